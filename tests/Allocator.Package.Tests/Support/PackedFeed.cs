namespace Allocator.Package.Tests.Support;

/// <summary>The Allocator package packed once, under a version no other run uses, into a temporary folder feed.
/// Dispose deletes the feed and that version from the global packages folder, so runs never see each other's.</summary>
public sealed class PackedFeed : IDisposable
{
    public PackedFeed()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("allocator-feed-").FullName;
        Version = "0.0.0-consumertest." + Guid.NewGuid().ToString("N")[..12];
        // The suite's build has made the library, generator and native library: pack exactly those.
        (int exit, string log) = Command.Dotnet(Repository.Root,
            "pack", Repository.PathOf("src", "Allocator", "Allocator.csproj"), "-c", Repository.Configuration, "--no-build",
            "-o", Directory, $"-p:MinVerVersionOverride={Version}");
        PackLog = log;
        PackExitCode = exit;
    }

    public string Directory { get; }

    public string Version { get; }

    public int PackExitCode { get; }

    public string PackLog { get; }

    public string PackagePath => Path.Combine(Directory, $"Allocator.{Version}.nupkg");

    public string SymbolPackagePath => Path.Combine(Directory, $"Allocator.{Version}.snupkg");

    public void Dispose()
    {
        TryDelete(Directory);
        string packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        TryDelete(Path.Combine(packages, "allocator", Version));
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (System.IO.Directory.Exists(path))
            {
                System.IO.Directory.Delete(path, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the OS's temp cleaning; a later run uses another version.
        }
    }
}
