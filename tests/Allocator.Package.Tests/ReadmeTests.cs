using System.Text.RegularExpressions;
using System.Xml.Linq;
using Allocator.Package.Tests.Support;

namespace Allocator.Package.Tests;

/// <summary>The README shows code that is compiled and run (samples/quickstart, built by the solution and, as a
/// package consumer, by <see cref="ConsumerAppTests"/>), and the repository restores on any machine.</summary>
public sealed partial class ReadmeTests
{
    [Fact]
    public void Readme_shows_the_quickstart_host_and_guest_verbatim()
    {
        string readme = Normalize(File.ReadAllText(Repository.PathOf("README.md")));
        string[] blocks = FencedBlock().Matches(readme).Select(m => m.Groups["code"].Value).ToArray();
        Assert.Contains(Normalize(File.ReadAllText(Repository.PathOf("samples", "quickstart", "Program.cs"))), blocks);
        Assert.Contains(Normalize(File.ReadAllText(Repository.PathOf("samples", "quickstart", "guest", "guest.c"))), blocks);
        Assert.Contains("<AllocatorGuest Include=\"guest/*.c\" />", readme);
    }

    [Fact]
    public void Getting_started_shows_the_quickstart_guest_verbatim()
    {
        string page = Normalize(File.ReadAllText(Repository.PathOf("docs", "getting-started.md")));
        string[] blocks = FencedBlock().Matches(page).Select(m => m.Groups["code"].Value).ToArray();
        Assert.Contains(Normalize(File.ReadAllText(Repository.PathOf("samples", "quickstart", "guest", "guest.c"))), blocks);
        Assert.Contains("<AllocatorGuest Include=\"guest/*.c\" />", page);
    }

    [Fact]
    public void Readme_keeps_exactly_two_set_up_commands()
    {
        string readme = Normalize(File.ReadAllText(Repository.PathOf("README.md")));
        string[] shell = FencedBlock().Matches(readme).Where(m => m.Groups["lang"].Value == "sh").Select(m => m.Groups["code"].Value.Trim()).ToArray();
        Assert.Equal(
        [
            "dotnet publish samples/aot -c Release -r linux-x64 -o artifacts/sample && artifacts/sample/Allocator.Sample.Aot",
            "dotnet test Allocator.sln -c Release",
        ], shell);
    }

    [Fact]
    public void NuGet_config_names_no_machine_local_source()
    {
        XDocument config = XDocument.Load(Repository.PathOf("NuGet.config"));
        string[] sources = config.Descendants("packageSources").Elements("add").Select(e => e.Attribute("value")!.Value).ToArray();
        Assert.All(sources, source => Assert.StartsWith("https://", source));
    }

    private static string Normalize(string text) => text.Replace("\r\n", "\n", StringComparison.Ordinal);

    [GeneratedRegex(@"^```(?<lang>[a-z]*)\n(?<code>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedBlock();
}
