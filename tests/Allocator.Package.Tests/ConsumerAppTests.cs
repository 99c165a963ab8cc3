using Allocator.Package.Tests.Support;

namespace Allocator.Package.Tests;

/// <summary>A fresh app outside this repository that has only a PackageReference and a C guest: it builds (the
/// generator and the analyzer run in its own build, gcc links its guest against the packaged header and library),
/// runs a fiber with an async host call over a generated layout, and does the same published with NativeAOT.</summary>
[Collection(PackageCollection.Name)]
public sealed class ConsumerAppTests(PackedFeed feed)
{
    /// <summary>The raw-token mistake ALLOC101 exists for (a stack checked out and never returned), and the fiber
    /// mistake ALLOC100 exists for (the Store consumed while a fiber of it may still hold its stack).</summary>
    private const string AnalyzerProbe = """
        using Allocator;
        using Allocator.Fibers;

        internal static class AnalyzerProbe
        {
            public static bool Forget(Store<string> store)
            {
                StackToken token = store.CheckoutStack("probe");
                return token.IsValid;
            }

            public static async System.Threading.Tasks.Task<string> ConsumeTooEarly(PoolingAllocator allocator, nint entry, FiberHostFunctions host)
            {
                var store = new Store<string>(allocator, "data");
                Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                string data = store.IntoData();
                await fiber.RunAsync();
                return data;
            }
        }
        """;

    [LinuxX64Fact]
    public void Fresh_app_builds_from_the_package_runs_a_fiber_and_runs_again_published_with_NativeAOT()
    {
        Assert.True(feed.PackExitCode == 0, feed.PackLog);
        string app = Directory.CreateTempSubdirectory("allocator-consumer-").FullName;
        try
        {
            WriteApp(app);

            // A design-time build (what an IDE runs on open) must not compile the guest.
            (int designExit, string designLog) = Command.Dotnet(app, "build", "-c", "Release", "-p:DesignTimeBuild=true", "-p:AllocatorGuestCC=/nonexistent/cc");
            Assert.True(designExit == 0, designLog);
            Assert.False(Directory.Exists(Path.Combine(app, "obj", "allocator-guest")), designLog);

            (int buildExit, string buildLog) = Command.Dotnet(app, "build", "-c", "Release");
            Assert.True(buildExit == 0, buildLog);
            Assert.Matches(@"AnalyzerProbe\.cs\(\d+,\d+\): warning ALLOC101", buildLog);
            Assert.Matches(@"AnalyzerProbe\.cs\(\d+,\d+\): warning ALLOC100", buildLog);
            string built = Path.Combine(app, "bin", "Release", "net10.0");
            Assert.True(File.Exists(Path.Combine(built, "libGuest.so")), buildLog);
            AssertRunsFiber(Command.Run(Path.Combine(built, "Consumer"), built));

            // A RID the package has no fiber library for fails the guest build with a clear error, not at run time.
            (int unsupportedExit, string unsupportedLog) = Command.Dotnet(app, "msbuild", "-t:BuildAllocatorGuest", "-p:RuntimeIdentifier=osx-arm64", "-p:Configuration=Release");
            Assert.NotEqual(0, unsupportedExit);
            Assert.Contains("the Allocator package has no native fiber library for 'osx-arm64'", unsupportedLog);

            string published = Path.Combine(app, "published");
            (int publishExit, string publishLog) = Command.Dotnet(app, "publish", "-c", "Release", "-r", "linux-x64", "-o", published);
            Assert.True(publishExit == 0, publishLog);
            Assert.DoesNotMatch(@"warning (IL|CS)\d+", publishLog);
            Assert.False(File.Exists(Path.Combine(published, "Consumer.dll")), "expected a NativeAOT binary, not a JIT app");
            Assert.True(File.Exists(Path.Combine(published, "libAllocatorNative.so")), publishLog);
            Assert.True(File.Exists(Path.Combine(published, "libGuest.so")), publishLog);
            AssertRunsFiber(Command.Run(Path.Combine(published, "Consumer"), published));
        }
        finally
        {
            Directory.Delete(app, recursive: true);
        }
    }

    private void WriteApp(string app)
    {
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="allocator-under-test" value="{feed.Directory}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" protocolVersion="3" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Consumer.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
                <PublishAot>true</PublishAot>
                <InvariantGlobalization>true</InvariantGlobalization>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Allocator" Version="{feed.Version}" />
              </ItemGroup>
              <ItemGroup>
                <AllocatorGuest Include="guest/*.c" />
              </ItemGroup>
            </Project>
            """);
        // The README's code, exactly as README.md shows it.
        File.Copy(Repository.PathOf("samples", "quickstart", "Program.cs"), Path.Combine(app, "Program.cs"));
        Directory.CreateDirectory(Path.Combine(app, "guest"));
        File.Copy(Repository.PathOf("samples", "quickstart", "guest", "guest.c"), Path.Combine(app, "guest", "guest.c"));
        File.WriteAllText(Path.Combine(app, "AnalyzerProbe.cs"), AnalyzerProbe);
    }

    private static void AssertRunsFiber((int ExitCode, string Output) run)
    {
        Assert.True(run.ExitCode == 0, run.Output);
        // guest_entry(20) asks the host to double 20 and adds 1; the host counts its call in the generated layout.
        Assert.Contains("guest returned 41 after 1 host call(s)", run.Output);
        Assert.Contains("request 1: stacks in use 0", run.Output);
    }
}
