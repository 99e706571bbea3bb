using System.Globalization;
using System.Runtime.InteropServices;

namespace Soco.Cli.Commands;

/// <summary>
/// One reading of where a process's memory is (docs/scale.md, "Tracing the loader's memory"): resident and peak
/// resident set (/proc/self/status), the .NET GC heap (live objects, committed, the large-object heap, collection
/// counts, pinned objects) and glibc malloc's heap (LibTorch's CPU tensors live there: bytes in use, bytes free but
/// kept by its arenas, bytes in separate mmaps). Linux only; on other systems the /proc and glibc fields read 0.
/// </summary>
internal readonly record struct MemoryProbe(
    double RssMb, double HwmMb, double RssAnonMb, double GcLiveMb, double GcHeapMb, double GcCommittedMb, double LohMb,
    int Gen0, int Gen1, int Gen2, long Pinned, double MallocUsedMb, double MallocFreeMb, double MallocMmapMb)
{
    public const string CsvHeader =
        "rss_mb,hwm_mb,rss_anon_mb,gc_live_mb,gc_heap_mb,gc_committed_mb,loh_mb,gen0,gen1,gen2,pinned,malloc_used_mb,malloc_free_mb,malloc_mmap_mb";

    public static MemoryProbe Read()
    {
        var info = GC.GetGCMemoryInfo();
        var m = MallInfo();
        const double Mb = 1024.0 * 1024.0;
        return new MemoryProbe(
            StatusKb("VmRSS") / 1024.0, StatusKb("VmHWM") / 1024.0, StatusKb("RssAnon") / 1024.0,
            GC.GetTotalMemory(false) / Mb, info.HeapSizeBytes / Mb, info.TotalCommittedBytes / Mb,
            info.GenerationInfo.Length > 3 ? info.GenerationInfo[3].SizeAfterBytes / Mb : 0,
            GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2), info.PinnedObjectsCount,
            m.Used / Mb, m.Free / Mb, m.Mmap / Mb);
    }

    public string ToCsv() => string.Join(",", new object[]
        { RssMb, HwmMb, RssAnonMb, GcLiveMb, GcHeapMb, GcCommittedMb, LohMb, Gen0, Gen1, Gen2, Pinned, MallocUsedMb, MallocFreeMb, MallocMmapMb }
        .Select(o => o is double d ? d.ToString("F1", CultureInfo.InvariantCulture) : Convert.ToString(o, CultureInfo.InvariantCulture)));

    static long StatusKb(string field)
    {
        if (!File.Exists("/proc/self/status")) return 0;
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
        return 0;
    }

    // glibc ≥ 2.33: struct mallinfo2 is ten size_t fields.
    [StructLayout(LayoutKind.Sequential)]
    struct MallInfo2
    {
        public nuint Arena, Ordblks, Smblks, Hblks, Hblkhd, Usmblks, Fsmblks, Uordblks, Fordblks, Keepcost;
    }

    [DllImport("libc", EntryPoint = "mallinfo2")]
    static extern MallInfo2 mallinfo2();

    static (double Used, double Free, double Mmap) MallInfo()
    {
        if (!OperatingSystem.IsLinux()) return (0, 0, 0);
        try
        {
            var m = mallinfo2();
            return (m.Uordblks, m.Fordblks, m.Hblkhd);
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return (0, 0, 0); // not glibc (musl) or an older glibc
        }
    }
}
