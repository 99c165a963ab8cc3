using System.Diagnostics;
using System.Reflection;

namespace Allocator.Sample.Tests;

/// <summary>The README's main job, end to end: publish the sample with NativeAOT, then run the native executable.</summary>
public sealed class NativeAotSampleTests
{
    private static readonly string RepositoryRoot = typeof(NativeAotSampleTests).Assembly
        .GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!;

    [LinuxX64Fact]
    public void Sample_publishes_with_NativeAOT_without_warnings_and_runs_fibers_leaving_no_stack_checked_out()
    {
        string output = Path.Combine(Path.GetTempPath(), "allocator-aot-sample-" + Guid.NewGuid().ToString("N"));
        try
        {
            (int publishExit, string publishLog) = Run("dotnet", RepositoryRoot,
                "publish", Path.Combine(RepositoryRoot, "samples", "aot"), "-c", "Release", "-r", "linux-x64", "-o", output,
                "-nodeReuse:false", "-p:UseSharedCompilation=false");
            Assert.True(publishExit == 0, publishLog);
            // TreatWarningsAsErrors would fail the publish on IL2xxx/IL3xxx, but say it explicitly too.
            Assert.DoesNotMatch(@"warning (IL|CS|ALLOC)\d+", publishLog);
            string executable = Path.Combine(output, "Allocator.Sample.Aot");
            Assert.True(File.Exists(executable), $"no native executable at {executable}");
            Assert.False(File.Exists(Path.Combine(output, "Allocator.Sample.Aot.dll")), "expected a NativeAOT binary, not a JIT app");

            (int runExit, string runLog) = Run(executable, output, "3000", "32", "4");
            Assert.True(runExit == 0, runLog);
            Assert.Contains("seed scenario: IntoData while suspended refused: 1 stack(s) held by seed fiber", runLog);
            Assert.Contains("seed scenario: after completion IntoData succeeded; stacks in use: 0", runLog);
            Assert.Contains("ran 3000 fibers (32 at a time, 4 async inputs each)", runLog);
            // Peak counts stacks out of the shared free list: the 32 running fibers plus at most one parked per core.
            var stacks = System.Text.RegularExpressions.Regex.Match(runLog, @"stacks: in use now (\d+), peak (\d+) of 64");
            Assert.True(stacks.Success, runLog);
            Assert.Equal("0", stacks.Groups[1].Value);
            Assert.InRange(int.Parse(stacks.Groups[2].Value), 32, 32 + Environment.ProcessorCount);
            Assert.Contains("(15000 calls)", runLog);
            Assert.Contains("failures: 0", runLog);
            // The sample's closing metrics report, read through a MeterListener in the NativeAOT binary.
            Assert.Contains("allocator.pool.limit {slot}: instances=64, memories=1, stacks=64", runLog);
            Assert.Contains("allocator.pool.in_use {slot}: instances=0, memories=0, stacks=0", runLog);
            Assert.Matches(@"allocator\.pool\.checkouts \{checkout\}: instances=\d+, memories=0, stacks=\d+", runLog);
        }
        finally
        {
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
        }
    }

    private static (int ExitCode, string Output) Run(string file, string workingDirectory, params string[] arguments)
    {
        var start = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(8)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} did not finish within 8 minutes");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }
}
