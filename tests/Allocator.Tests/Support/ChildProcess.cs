using System.Diagnostics;
using System.Reflection;

namespace Allocator.Tests.Support;

/// <summary>Runs a CrashHost scenario in its own process, since a guard-page hit kills whoever takes it.</summary>
internal static class ChildProcess
{
    public const int SigSegv = 11;

    public sealed record Outcome(int ExitCode, string StandardOutput, string StandardError)
    {
        /// <summary>The signal that ended the process, if one did (.NET reports 128 + signal on Unix).</summary>
        public int? Signal => ExitCode > 128 && ExitCode < 128 + 65 ? ExitCode - 128 : null;
    }

    public static Outcome RunCrashHost(string scenario)
    {
        string path = typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "CrashHostPath").Value!;
        Assert.True(File.Exists(path), $"CrashHost not built at {path}");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(path);
        start.ArgumentList.Add(scenario);
        // No core dumps or crash reports from the intended crash.
        start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"scenario {scenario} did not finish within 60 s");
        }
        return new Outcome(process.ExitCode, stdout.Result, stderr.Result);
    }
}
