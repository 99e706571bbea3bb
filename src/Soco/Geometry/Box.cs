namespace Soco.Geometry;

/// <summary>
/// A pixel box <c>[x1, y1, x2, y2, id]</c> with inclusive pixel indices (width = x2 − x1 + 1), float64 as in SoCo's
/// pipeline (docs/soco-reference.md §0); <see cref="Id"/> is the proposal id (1…n, docs/soco-reference.md §3.1) that builds correspondences.
/// </summary>
public readonly record struct Box(double X1, double Y1, double X2, double Y2, int Id)
{
    public double Width => X2 - X1 + 1;
    public double Height => Y2 - Y1 + 1;

    /// <summary>SoCo's overlap test (docs/soco-reference.md §4.2, §4.5): strict inequalities on inclusive coordinates.</summary>
    public bool OverlapsStrictly(Box other) =>
        X1 < other.X2 && other.X1 < X2 && Y1 < other.Y2 && other.Y1 < Y2;

    /// <summary>The intersection rectangle (only meaningful when the boxes overlap); keeps this box's id.</summary>
    public Box Intersect(Box other) =>
        new(Math.Max(X1, other.X1), Math.Max(Y1, other.Y1), Math.Min(X2, other.X2), Math.Min(Y2, other.Y2), Id);

    public Box Translate(double dx, double dy) => this with { X1 = X1 + dx, Y1 = Y1 + dy, X2 = X2 + dx, Y2 = Y2 + dy };

    public bool IsFinite => double.IsFinite(X1) && double.IsFinite(Y1) && double.IsFinite(X2) && double.IsFinite(Y2);

    public override string ToString() => $"[{X1:0.##}, {Y1:0.##}, {X2:0.##}, {Y2:0.##}, id {Id}]";
}

/// <summary>
/// A normalised box <c>[x1/w, y1/h, x2/w, y2/h, id]</c> relative to a view's crop (docs/soco-reference.md §0, §4.7): a box covering the
/// whole view is <c>[0, 0, (w−1)/w, (h−1)/h]</c>. After a flip <c>x1' = 1 − x2, x2' = 1 − x1</c> (docs/soco-reference.md §4.9).
/// </summary>
public readonly record struct NormBox(double X1, double Y1, double X2, double Y2, int Id)
{
    public NormBox FlipHorizontal() => this with { X1 = 1 - X2, X2 = 1 - X1 };

    public override string ToString() => $"[{X1:0.###}, {Y1:0.###}, {X2:0.###}, {Y2:0.###}, id {Id}]";
}
