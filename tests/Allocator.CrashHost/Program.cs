using Allocator.CrashHost;

// Usage: Allocator.CrashHost <scenario>. Prints "armed" right before the faulting access, so a test can tell a
// fault at the intended place from a failure earlier on.
if (args.Length != 1 || !Scenarios.All.TryGetValue(args[0], out Action? scenario))
{
    Console.Error.WriteLine($"usage: Allocator.CrashHost <{string.Join("|", Scenarios.All.Keys)}>");
    return 2;
}
scenario();
Console.WriteLine("survived");
return 0;
