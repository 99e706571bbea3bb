using System.Numerics;
using Soco.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace Soco.Ops;

/// <summary>
/// Non-maximum suppression with torchvision 0.14's CPU kernel semantics (<c>csrc/ops/cpu/nms_kernel.cpp</c>;
/// docs/detection-parts.md §NMS): boxes sorted by score descending with a stable sort, a box is suppressed when its IoU with a
/// kept box is strictly greater than the threshold, IoU computed in the boxes' dtype with the kernel's operation order.
/// The greedy loop runs on the CPU (it is sequential by nature); results are moved back to the boxes' device.
/// </summary>
public static class Nms
{
    /// <summary>torchvision switches <c>batched_nms</c> from the coordinate-offset trick to a per-class loop above this many box coordinates on the CPU.</summary>
    public const long CpuVanillaThreshold = 4000;

    /// <summary>The same switch on an accelerator.</summary>
    public const long DeviceVanillaThreshold = 20000;

    /// <summary>Indices (int64) of the kept boxes, in decreasing score order.</summary>
    public static Tensor Apply(Tensor boxes, Tensor scores, double iouThreshold)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        if (scores.dim() != 1 || scores.shape[0] != boxes.shape[0])
            throw new ArgumentException($"scores must be a vector with one entry per box ({boxes.shape[0]}), got shape [{string.Join(", ", scores.shape)}].", nameof(scores));
        if (boxes.shape[0] == 0) return empty(0, dtype: int64, device: boxes.device);
        long[] keep;
        if (boxes.dtype == float64)
        {
            using var b = boxes.detach().cpu().contiguous();
            using var s = scores.detach().to(float64).cpu().contiguous();
            keep = Greedy(b.data<double>().ToArray(), s.data<double>().ToArray(), iouThreshold);
        }
        else
        {
            using var b = boxes.detach().to(float32).cpu().contiguous();
            using var s = scores.detach().to(float32).cpu().contiguous();
            keep = Greedy(b.data<float>().ToArray(), s.data<float>().ToArray(), iouThreshold);
        }
        return tensor(keep, dtype: int64, device: boxes.device);
    }

    /// <summary>
    /// NMS done independently per category <paramref name="idxs"/>: torchvision's <c>batched_nms</c>, including its
    /// choice between the coordinate-offset trick (each category's boxes shifted by <c>idx·(max coordinate + 1)</c> so
    /// categories never overlap; up to <see cref="CpuVanillaThreshold"/> coordinates on the CPU) and a per-category loop
    /// (above it) — the two can differ in the last float bit of an IoU, so parity needs the same choice.
    /// Returns kept indices in decreasing score order.
    /// </summary>
    public static Tensor Batched(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        BoxOps.CheckBoxes(boxes, nameof(boxes));
        if (idxs.dim() != 1 || idxs.shape[0] != boxes.shape[0])
            throw new ArgumentException($"idxs must be a vector with one entry per box ({boxes.shape[0]}), got shape [{string.Join(", ", idxs.shape)}].", nameof(idxs));
        long limit = boxes.device.type == DeviceType.CPU ? CpuVanillaThreshold : DeviceVanillaThreshold;
        return boxes.numel() > limit ? BatchedVanilla(boxes, scores, idxs, iouThreshold) : BatchedCoordinateTrick(boxes, scores, idxs, iouThreshold);
    }

    /// <summary>The coordinate-offset form of <see cref="Batched"/>.</summary>
    public static Tensor BatchedCoordinateTrick(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        if (boxes.shape[0] == 0) return empty(0, dtype: int64, device: boxes.device);
        using var scope = NewDisposeScope();
        var b = boxes.detach();
        var maxCoordinate = b.max();
        // offsets = idxs.to(boxes) * (max_coordinate + 1), all in the boxes' dtype.
        var offsets = idxs.to(b.dtype) * maxCoordinate.Plus(ones(1, dtype: b.dtype, device: b.device).squeeze());
        var shifted = b.Plus(offsets.unsqueeze(1));
        return Apply(shifted, scores, iouThreshold).MoveToOuterDisposeScope();
    }

    /// <summary>The per-category loop form of <see cref="Batched"/>; the result is sorted by score, descending (stable).</summary>
    public static Tensor BatchedVanilla(Tensor boxes, Tensor scores, Tensor idxs, double iouThreshold)
    {
        if (boxes.shape[0] == 0) return empty(0, dtype: int64, device: boxes.device);
        using var scope = NewDisposeScope();
        var keepMask = zeros(boxes.shape[0], dtype: @bool, device: boxes.device);
        var classes = unique(idxs.detach()).Item1;
        foreach (long c in classes.cpu().to(int64).data<long>().ToArray())
        {
            var current = idxs.EqScalar(c).WhereTrue();
            var kept = Apply(boxes.index_select(0, current), scores.index_select(0, current), iouThreshold);
            using var yes = true.ToScalar();
            keepMask.index_fill_(0, current.index_select(0, kept), yes);
        }
        var keepIdx = keepMask.WhereTrue();
        var order = scores.detach().index_select(0, keepIdx).sort(0, descending: true, stable: true).Indices;
        return keepIdx.index_select(0, order).MoveToOuterDisposeScope();
    }

    /// <summary>The kernel's loop on flat [x1, y1, x2, y2] rows.</summary>
    static long[] Greedy<T>(T[] b, T[] scores, double threshold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = scores.Length;
        // Stable descending sort (torchvision: scores.sort(stable=True, descending=True)); LINQ's sort is stable.
        var order = Enumerable.Range(0, n).OrderByDescending(i => scores[i]).ToArray();
        var areas = new T[n];
        for (int i = 0; i < n; i++) areas[i] = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
        var suppressed = new bool[n];
        var keep = new List<long>();
        for (int oi = 0; oi < n; oi++)
        {
            int i = order[oi];
            if (suppressed[i]) continue;
            keep.Add(i);
            T ix1 = b[4 * i], iy1 = b[4 * i + 1], ix2 = b[4 * i + 2], iy2 = b[4 * i + 3], iarea = areas[i];
            for (int oj = oi + 1; oj < n; oj++)
            {
                int j = order[oj];
                if (suppressed[j]) continue;
                T xx1 = StdMax(ix1, b[4 * j]);
                T yy1 = StdMax(iy1, b[4 * j + 1]);
                T xx2 = StdMin(ix2, b[4 * j + 2]);
                T yy2 = StdMin(iy2, b[4 * j + 3]);
                T w = StdMax(T.Zero, xx2 - xx1);
                T h = StdMax(T.Zero, yy2 - yy1);
                T inter = w * h;
                T ovr = inter / (iarea + areas[j] - inter);
                if (double.CreateChecked(ovr) > threshold) suppressed[j] = true;
            }
        }
        return keep.ToArray();
    }

    // std::max / std::min exactly (NaN and signed-zero behaviour included).
    static T StdMax<T>(T a, T b) where T : IFloatingPointIeee754<T> => a < b ? b : a;
    static T StdMin<T>(T a, T b) where T : IFloatingPointIeee754<T> => b < a ? b : a;
}
