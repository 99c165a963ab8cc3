using Allocator.Generators.Tests.Support;

namespace Allocator.Generators.Tests;

/// <summary>Every slot layout diagnostic, with a near-identical declaration that must not raise it.</summary>
public class SlotLayoutDiagnosticsTests
{
    private static GeneratorRun Layout(string attributes, string extra = "") => TestCompilation.Generate($$"""
        using System.Runtime.InteropServices;
        using Allocator.Configuration;

        namespace N;

        {{extra}}

        [SlotLayout]
        {{attributes}}
        public partial struct L;
        """);

    [Fact]
    public void Alloc001_NonPartialStruct()
    {
        GeneratorRun run = TestCompilation.Generate("""
            using Allocator.Configuration;
            [SlotLayout, SlotRegion("A", typeof(int))]
            public struct Plain;
            """);
        run.AssertSingle("ALLOC001", "Plain", "'Plain' must be declared partial");
        Assert.Empty(run.HintNames);
    }

    [Fact]
    public void Alloc001_NonPartialContainingType()
    {
        GeneratorRun run = TestCompilation.Generate("""
            using Allocator.Configuration;
            public class Outer
            {
                [SlotLayout, SlotRegion("A", typeof(int))]
                public partial struct Inner;
            }
            """);
        run.AssertSingle("ALLOC001", "Inner");
    }

    [Fact]
    public void Alloc001_NotReportedForPartialNestedGenericAndReadOnly()
    {
        GeneratorRun run = TestCompilation.Generate("""
            using Allocator.Configuration;
            namespace N.M;
            public static partial class Outer
            {
                public partial record struct Holder<T>
                {
                    [SlotLayout, SlotRegion("A", typeof(int))]
                    public readonly partial struct Inner;
                }
            }
            public static class Use
            {
                public static int Size => Outer.Holder<string>.Inner.SlotSize + Outer.Holder<int>.Inner.AOffset;
            }
            """);
        run.AssertClean();
        Assert.Single(run.HintNames, "N.M.Outer.Holder[T].Inner.SlotLayout.g.cs");
    }

    [Fact]
    public void Alloc002_GuardBytesNotPageMultiple()
    {
        GeneratorRun run = Layout("""[SlotRegion("A", Size = 64, GuardBytes = 100)]""");
        run.AssertSingle("ALLOC002", "GuardBytes = 100", "GuardBytes of region 'A' is 100 bytes");
        Assert.Empty(run.HintNames);
        Layout("""[SlotRegion("A", Size = 64, GuardBytes = 8192)]""").AssertClean();
    }

    [Fact]
    public void Alloc002_SlotSizeNotPageMultiple()
    {
        TestCompilation.Generate("""
            using Allocator.Configuration;
            [SlotLayout(SlotSize = 5000), SlotRegion("A", typeof(int))]
            public partial struct L;
            """).AssertSingle("ALLOC002", "SlotSize = 5000", "SlotSize of 'L' is 5000 bytes");
    }

    [Fact]
    public void Alloc003_RegionsOverlap()
    {
        GeneratorRun run = Layout("""
            [SlotRegion("A", Size = 64, Offset = 0)]
            [SlotRegion("B", Size = 64, Offset = 32)]
            """);
        run.AssertSingle("ALLOC003", "Offset = 32", "Region 'B' [32, 96) overlaps region 'A' [0, 64)");
        Layout("""
            [SlotRegion("A", Size = 64, Offset = 0)]
            [SlotRegion("B", Size = 64, Offset = 64)]
            """).AssertClean();
    }

    [Fact]
    public void Alloc003_RegionOverlapsGuard()
    {
        GeneratorRun run = Layout("""
            [SlotRegion("A", Size = 64, GuardBytes = 4096)]
            [SlotRegion("B", Size = 16, Offset = 4096)]
            """);
        run.AssertSingle("ALLOC003", "Offset = 4096", "Region 'B' [4096, 4112) overlaps the guard of region 'A' [4096, 8192)");
        Layout("""
            [SlotRegion("A", Size = 64, GuardBytes = 4096)]
            [SlotRegion("B", Size = 16, Offset = 8192)]
            """).AssertClean();
    }

    [Fact]
    public void Alloc003_GuardOverlapsRegion()
    {
        GeneratorRun run = Layout("""
            [SlotRegion("A", Size = 16, Offset = 4096)]
            [SlotRegion("B", Size = 64, Offset = 0, GuardBytes = 4096)]
            """);
        run.AssertSingle("ALLOC003", "Offset = 0", "The guard of region 'B' [4096, 8192) overlaps region 'A' [4096, 4112)");
    }

    [Fact]
    public void Alloc004_OffsetNotAligned()
    {
        Layout("""[SlotRegion("A", Size = 8, Alignment = 8, Offset = 12)]""")
            .AssertSingle("ALLOC004", "Offset = 12", "offset 12 is not a multiple of its 8-byte alignment");
        Layout("""[SlotRegion("A", Size = 8, Alignment = 8, Offset = 16)]""").AssertClean();
    }

    [Fact]
    public void Alloc004_AlignmentBelowNaturalAlignment()
    {
        Layout("""[SlotRegion("A", typeof(long), Alignment = 2)]""")
            .AssertSingle("ALLOC004", "Alignment = 2", "below the 8-byte natural alignment of 'long'");
        Layout("""[SlotRegion("A", typeof(long), Alignment = 16)]""").AssertClean();
    }

    [Theory]
    [InlineData(3)]
    [InlineData(-8)]
    [InlineData(8192)]
    public void Alloc005_InvalidAlignment(int alignment)
    {
        Layout($$"""[SlotRegion("A", Size = 8, Alignment = {{alignment}})]""")
            .AssertSingle("ALLOC005", $"Alignment = {alignment}", $"Alignment of region 'A' is {alignment}");
    }

    [Fact]
    public void Alloc005_NotReportedForPageAlignment() =>
        Layout("""[SlotRegion("A", Size = 8, Alignment = 4096)]""").AssertClean();

    [Fact]
    public void Alloc006_NegativeCount()
    {
        Layout("""[SlotRegion("A", typeof(int), Count = -1)]""").AssertSingle("ALLOC006", "Count = -1", "Count of region 'A' is -1");
        Layout("""[SlotRegion("A", typeof(int), Count = 4)]""").AssertClean();
    }

    [Fact]
    public void Alloc007_ByteRegionWithoutSize()
    {
        Layout("""[SlotRegion("A")]""").AssertSingle("ALLOC007", "SlotRegion(\"A\")", "Size of region 'A' is 0");
        Layout("""[SlotRegion("A", Size = 0)]""").AssertSingle("ALLOC007", "Size = 0");
        Layout("""[SlotRegion("A", Size = 1)]""").AssertClean();
    }

    [Fact]
    public void Alloc007_LayoutBeyondTwoGigabytes()
    {
        Layout("""[SlotRegion("A", Size = 8, Offset = 3000000000)]""").AssertSingle("ALLOC007", "Offset = 3000000000");
    }

    [Fact]
    public void Alloc009_ManagedRegionType()
    {
        Layout("""[SlotRegion("A", typeof(string))]""")
            .AssertSingle("ALLOC009", "typeof(string)", "Region 'A' has type 'string', which is not an unmanaged type");
        Layout("""[SlotRegion("A", typeof(Holder))]""", "public struct Holder { public object O; }").AssertSingle("ALLOC009", "typeof(Holder)");
        Layout("""[SlotRegion("A", typeof(Holder))]""", "public struct Holder { public long O; }").AssertClean();
    }

    [Fact]
    public void Alloc010_SizeOfMetadataTypeUnknown()
    {
        Layout("""[SlotRegion("A", typeof(System.Guid))]""")
            .AssertSingle("ALLOC010", "typeof(System.Guid)", "declared in another assembly");
        Layout("""[SlotRegion("A", typeof(System.Guid), Size = 16)]""").AssertClean();
    }

    [Fact]
    public void Alloc010_AutoLayoutStruct()
    {
        const string Auto = "[StructLayout(LayoutKind.Auto)] public struct Auto { public long A; public byte B; }";
        Layout("""[SlotRegion("A", typeof(Auto))]""", Auto).AssertSingle("ALLOC010", "typeof(Auto)", "LayoutKind.Auto");
        Layout("""[SlotRegion("A", typeof(Auto), Size = 16)]""", Auto).AssertClean();
    }

    [Fact]
    public void Alloc011_RegionSmallerThanType()
    {
        Layout("""[SlotRegion("A", typeof(long), Size = 4)]""")
            .AssertSingle("ALLOC011", "Size = 4", "Region 'A' is 4 bytes, smaller than the 8 bytes its type 'long' needs");
        Layout("""[SlotRegion("A", typeof(int), Count = 4, Size = 8)]""").AssertSingle("ALLOC011", "Size = 8", "4 x 'int'");
        Layout("""[SlotRegion("A", typeof(long), Size = 16)]""").AssertClean();
    }

    [Theory]
    [InlineData("\"1st\"", "is not a valid C# identifier")]
    [InlineData("\"class\"", "is not a valid C# identifier")]
    [InlineData("\"SlotSize\"", "clashes with the member 'SlotSize'")]
    [InlineData("\"L\"", "clashes with the member 'L'")]
    public void Alloc012_InvalidName(string name, string message) =>
        Layout($$"""[SlotRegion({{name}}, Size = 8)]""").AssertSingle("ALLOC012", name, message);

    [Fact]
    public void Alloc012_DuplicateAndGeneratedNameClash()
    {
        Layout("""
            [SlotRegion("A", Size = 8)]
            [SlotRegion("A", Size = 8)]
            """).AssertSingle("ALLOC012", "\"A\"", "clashes with the member 'A'");
        Layout("""
            [SlotRegion("A", Size = 8)]
            [SlotRegion("AOffset", Size = 8)]
            """).AssertSingle("ALLOC012", "\"AOffset\"");
        Layout("""
            [SlotRegion("A", Size = 8)]
            [SlotRegion("B", Size = 8)]
            """).AssertClean();
    }

    [Fact]
    public void Alloc014_EmptyLayoutIsAWarningAndStillEmits()
    {
        GeneratorRun run = Layout(string.Empty);
        Microsoft.CodeAnalysis.Diagnostic warning = run.AssertSingle("ALLOC014", "L");
        Assert.Equal(Microsoft.CodeAnalysis.DiagnosticSeverity.Warning, warning.Severity);
        Assert.Contains("const int SlotSize = 4096;", run.Source("L.SlotLayout.g.cs"));
    }

    [Fact]
    public void Alloc017_SlotSizeSmallerThanRegions()
    {
        TestCompilation.Generate("""
            using Allocator.Configuration;
            [SlotLayout(SlotSize = 4096), SlotRegion("A", Size = 4096), SlotRegion("B", Size = 8)]
            public partial struct L;
            """).AssertSingle("ALLOC017", "SlotSize = 4096", "SlotSize of 'L' is 4096 bytes, but its regions and guards need 4104 bytes");
        GeneratorRun run = TestCompilation.Generate("""
            using Allocator.Configuration;
            [SlotLayout(SlotSize = 16384), SlotRegion("A", Size = 4096), SlotRegion("B", Size = 8)]
            public partial struct L;
            """);
        run.AssertClean();
        Assert.Contains("const int SlotSize = 16384;", run.Source("L.SlotLayout.g.cs"));
        Assert.Contains("const int AccessibleSize = 8192;", run.Source("L.SlotLayout.g.cs"));
    }
}
