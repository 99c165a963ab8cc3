using System.Diagnostics;

namespace Allocator.Package.Tests.Support;

/// <summary>Runs a program to completion and returns its exit code and combined output.</summary>
internal static class Command
{
    public static (int ExitCode, string Output) Run(string file, string workingDirectory, params string[] arguments)
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
        // A build server would outlive the test and keep the temporary app's files open.
        start.Environment["DOTNET_CLI_USE_MSBUILD_SERVER"] = "0";
        start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', arguments)} did not finish within 10 minutes");
        }
        return (process.ExitCode, $"> {file} {string.Join(' ', arguments)}\n{stdout.Result}{stderr.Result}");
    }

    /// <summary>Runs dotnet with build servers off, so nothing outlives the test.</summary>
    public static (int ExitCode, string Output) Dotnet(string workingDirectory, params string[] arguments) =>
        Run("dotnet", workingDirectory, [.. arguments, "-nodeReuse:false", "-p:UseSharedCompilation=false"]);
}
