using System.Runtime.CompilerServices;

namespace Allocator.Generators.Tests.Support;

/// <summary>Compares generated text with a checked-in file under Baselines/.</summary>
/// <remarks>Set ALLOCATOR_UPDATE_BASELINES=1 to rewrite the files after an intended change; the test still fails
/// that run so an update is never silent.</remarks>
internal static class Baseline
{
    public static void AssertMatches(string actual, string fileName, [CallerFilePath] string callerPath = "")
    {
        string directory = Path.Combine(Path.GetDirectoryName(callerPath)!, "Baselines");
        string path = Path.Combine(directory, fileName);
        if (Environment.GetEnvironmentVariable("ALLOCATOR_UPDATE_BASELINES") == "1")
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(path, actual);
            Assert.Fail($"Baseline {fileName} rewritten; unset ALLOCATOR_UPDATE_BASELINES and run again.");
        }
        Assert.True(File.Exists(path), $"Missing baseline {path}");
        string expected = File.ReadAllText(path).ReplaceLineEndings("\n");
        Assert.Equal(expected, actual.ReplaceLineEndings("\n"));
    }
}
