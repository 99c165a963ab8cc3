using System.IO.Compression;
using System.Xml.Linq;
using Allocator.Package.Tests.Support;

namespace Allocator.Package.Tests;

/// <summary>What the one package carries: everything a consumer needs, nothing that points back at this repository.</summary>
[Collection(PackageCollection.Name)]
public sealed class PackageContentTests(PackedFeed feed)
{
    [LinuxX64Fact]
    public void Package_holds_library_generator_native_library_header_guest_targets_license_and_readme()
    {
        Assert.True(feed.PackExitCode == 0, feed.PackLog);
        using ZipArchive package = ZipFile.OpenRead(feed.PackagePath);
        string[] entries = package.Entries.Select(e => e.FullName).ToArray();
        foreach (string expected in new[]
        {
            "lib/net10.0/Allocator.dll",
            "lib/net10.0/Allocator.xml",
            "analyzers/dotnet/cs/Allocator.Generators.dll",
            "analyzers/dotnet/cs/Allocator.Generators.CodeFixes.dll",
            "runtimes/linux-x64/native/libAllocatorNative.so",
            "include/fiber.h",
            "buildTransitive/Allocator.targets",
            "LICENSE",
            "README.md",
        })
        {
            Assert.Contains(expected, entries);
        }
        // Native files only ever sit directly in runtimes/<rid>/native.
        Assert.All(entries.Where(e => e.StartsWith("runtimes/", StringComparison.Ordinal)),
            e => Assert.Matches(@"^runtimes/[a-z0-9-]+/native/[^/]+$", e));
    }

    [LinuxX64Fact]
    public void Every_native_library_the_build_made_lands_in_runtimes_rid_native()
    {
        Assert.True(feed.PackExitCode == 0, feed.PackLog);
        using ZipArchive package = ZipFile.OpenRead(feed.PackagePath);
        string[] entries = package.Entries.Select(e => e.FullName).ToArray();
        string nativeRoot = Repository.PathOf("src", "Allocator", "obj", "native", Repository.Configuration);
        string[] built = Directory.GetDirectories(nativeRoot)
            .SelectMany(rid => Directory.GetFiles(rid).Where(f => Path.GetExtension(f) is ".so" or ".dll" or ".dylib")
                .Select(f => $"runtimes/{Path.GetFileName(rid)}/native/{Path.GetFileName(f)}"))
            .ToArray();
        Assert.Contains("runtimes/linux-x64/native/libAllocatorNative.so", built);
        Assert.All(built, expected => Assert.Contains(expected, entries));
        // Where the cross compilers are installed (.ci/run installs them first), the package carries all three.
        if (OnPath("x86_64-w64-mingw32-gcc"))
        {
            Assert.Contains("runtimes/win-x64/native/AllocatorNative.dll", entries);
        }
        if (OnPath("aarch64-linux-gnu-gcc"))
        {
            Assert.Contains("runtimes/linux-arm64/native/libAllocatorNative.so", entries);
        }
    }

    private static bool OnPath(string command) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(dir => File.Exists(Path.Combine(dir, command)));

    [LinuxX64Fact]
    public void Nuspec_has_license_readme_description_and_no_dependency_on_build_only_projects()
    {
        Assert.True(feed.PackExitCode == 0, feed.PackLog);
        using ZipArchive package = ZipFile.OpenRead(feed.PackagePath);
        using Stream nuspecStream = package.GetEntry("Allocator.nuspec")!.Open();
        XElement metadata = XDocument.Load(nuspecStream).Root!.Elements().Single(e => e.Name.LocalName == "metadata");
        string Value(string name) => metadata.Elements().SingleOrDefault(e => e.Name.LocalName == name)?.Value ?? "";

        Assert.Equal(feed.Version, Value("version"));
        Assert.Equal("MIT", Value("license"));
        Assert.Equal("README.md", Value("readme"));
        Assert.False(string.IsNullOrWhiteSpace(Value("description")));
        Assert.Contains("fiber", Value("tags"));
        string[] dependencies = metadata.Descendants().Where(e => e.Name.LocalName == "dependency")
            .Select(e => e.Attribute("id")!.Value).ToArray();
        Assert.DoesNotContain(dependencies, id => id.StartsWith("Allocator", StringComparison.Ordinal));
        Assert.DoesNotContain(dependencies, id => id is "MinVer" or "Microsoft.CodeAnalysis.PublicApiAnalyzers");
    }

    [LinuxX64Fact]
    public void Symbols_come_as_a_snupkg_with_the_pdb()
    {
        Assert.True(feed.PackExitCode == 0, feed.PackLog);
        using ZipArchive symbols = ZipFile.OpenRead(feed.SymbolPackagePath);
        Assert.Contains("lib/net10.0/Allocator.pdb", symbols.Entries.Select(e => e.FullName));
    }
}
