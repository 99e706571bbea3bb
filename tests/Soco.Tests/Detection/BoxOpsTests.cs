using Soco.Ops;
using Soco.Structures;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Soco.Tests.Detection;

/// <summary>Box ops, <see cref="Boxes"/> and NMS against torchvision 0.14 (tests/fixtures/detection/box_ops.pt).</summary>
[Collection("torch")]
public class BoxOpsTests(ITestOutputHelper log)
{
    [Theory]
    [InlineData("f32")]
    [InlineData("f64")]
    public void AreaIouClipAndSmallBoxesAreTorchvisionsBitForBit(string dt)
    {
        using var f = new DetectionFixture("box_ops.pt");
        using var scope = NewDisposeScope();
        var b1 = f[$"{dt}.boxes1"];
        var b2 = f[$"{dt}.boxes2"];
        Expect.Close(f[$"{dt}.area1"], BoxOps.BoxArea(b1), 0, "area");
        Expect.Close(f[$"{dt}.iou"], BoxOps.BoxIou(b1, b2), 0, "iou");
        Expect.Close(f[$"{dt}.clip"], BoxOps.ClipBoxesToImage(b1, (50, 70)), 0, "clip");
        Expect.SameIndices(f[$"{dt}.small"], BoxOps.RemoveSmallBoxes(b1, 1.5), "remove_small_boxes");
        Expect.Close(f[$"{dt}.perclass_clip"], BoxOps.ClipBoxesToImage(f[$"{dt}.perclass"], (60, 45)), 0, "per-class clip");

        // The typed wrapper gives the same answers.
        using var boxes = new Boxes(b1);
        Assert.Equal(13, boxes.Count);
        Expect.Close(f[$"{dt}.iou"], boxes.Iou(new Boxes(b2)), 0, "Boxes.Iou");
        Expect.Close(f[$"{dt}.clip"], boxes.Clip((50, 70)).Tensor, 0, "Boxes.Clip");
        Expect.SameIndices(f[$"{dt}.small"], boxes.KeepAtLeast(1.5), "Boxes.KeepAtLeast");
        Assert.Equal(dt == "f32" ? float32 : float64, boxes.Area().dtype);
    }

    [Fact]
    public void BoxesWrapperNonEmptyScaleAndValidation()
    {
        using var scope = NewDisposeScope();
        using var b = new Boxes(tensor(new float[] { 0, 0, 10, 5, 2, 2, 2, 9, 1, 1, 3, 1.5f }).view(3, 4));
        Assert.Equal(new[] { true, false, true }, b.NonEmpty().data<bool>().ToArray());
        Assert.Equal(new[] { true, false, false }, b.NonEmpty(0.5).data<bool>().ToArray());
        var s = b.Scale(2, 0.5).Tensor.data<float>().ToArray();
        Assert.Equal(new float[] { 0, 0, 20, 2.5f, 4, 1, 4, 4.5f, 2, 0.5f, 6, 0.75f }, s);
        Assert.Equal(0, new Boxes(zeros(0)).Count);
        Assert.Contains("N×4", Assert.Throws<ArgumentException>(() => new Boxes(zeros(3, 5))).Message);
        Assert.Contains("floating-point", Assert.Throws<ArgumentException>(() => new Boxes(zeros(new long[] { 3, 4 }, dtype: int64))).Message);
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("f64")]
    public void NmsKeepsTorchvisionsBoxesInTorchvisionsOrder(string dt)
    {
        using var f = new DetectionFixture("box_ops.pt");
        using var scope = NewDisposeScope();
        var boxes = f[$"nms.{dt}.boxes"];
        var scores = f[$"nms.{dt}.scores"];
        foreach (var t in new[] { 3, 5, 7 })
        {
            var keep = Nms.Apply(boxes, scores, t / 10.0);
            Expect.SameIndices(f[$"nms.{dt}.keep{t}"], keep, $"nms {dt} iou {t / 10.0}");
            log.WriteLine($"nms {dt} threshold {t / 10.0}: {keep.shape[0]} of {boxes.shape[0]} kept, same as torchvision");
        }
        Assert.Equal(0, Nms.Apply(zeros(0, 4), zeros(0), 0.5).shape[0]);
        Assert.Throws<ArgumentException>(() => Nms.Apply(boxes, scores.narrow(0, 0, 5), 0.5));
    }

    [Theory]
    [InlineData("small")]   // 1,200 coordinates: torchvision uses the coordinate-offset trick
    [InlineData("large")]   // 6,000 coordinates: torchvision loops over categories
    public void BatchedNmsMatchesTorchvisionOnBothPaths(string size)
    {
        using var f = new DetectionFixture("box_ops.pt");
        using var scope = NewDisposeScope();
        var b = f[$"bnms.{size}.boxes"];
        var s = f[$"bnms.{size}.scores"];
        var i = f[$"bnms.{size}.idxs"];
        Expect.SameIndices(f[$"bnms.{size}.keep"], Nms.Batched(b, s, i, 0.5), $"batched_nms {size}");
        Expect.SameIndices(f[$"bnms.{size}.trick"], Nms.BatchedCoordinateTrick(b, s, i, 0.5), $"coordinate trick {size}");
        Expect.SameIndices(f[$"bnms.{size}.vanilla"], Nms.BatchedVanilla(b, s, i, 0.5), $"per-class loop {size}");
        log.WriteLine($"batched nms {size}: {f[$"bnms.{size}.keep"].shape[0]} of {b.shape[0]} kept");
    }

    [Fact]
    public void BatchedNmsNeverSuppressesAcrossCategories()
    {
        using var scope = NewDisposeScope();
        // Two identical boxes in different categories both survive; in the same category one goes.
        var b = tensor(new float[] { 0, 0, 10, 10, 0, 0, 10, 10, 0, 0, 10, 10 }).view(3, 4);
        var s = tensor(new float[] { 0.9f, 0.8f, 0.7f });
        var keep = Nms.Batched(b, s, tensor(new long[] { 0, 1, 0 }), 0.5).data<long>().ToArray();
        Assert.Equal(new long[] { 0, 1 }, keep);
        Assert.Equal(0, Nms.Batched(zeros(0, 4), zeros(0), zeros(0, dtype: int64), 0.5).shape[0]);
    }
}
