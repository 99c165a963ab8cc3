namespace Allocator.Tests.Windows;

/// <summary>The executable's entry point: the xunit v3 in-process runner, or, with <c>--crash-host scenario</c>, a
/// scenario that is meant to kill the process (the Linux suite runs Allocator.CrashHost through <c>dotnet</c>,
/// which a self-contained win-x64 run under Wine does not have, so this executable is its own child process).</summary>
internal static class Program
{
    public static int Main(string[] args) =>
        args is ["--crash-host", string scenario]
            ? CrashScenarios.Run(scenario)
            : Xunit.Runner.InProc.SystemConsole.ConsoleRunner.Run(args).GetAwaiter().GetResult();
}
