namespace Allocator.CrashHost;

/// <summary>Every crash scenario by name. Each one should die before returning.</summary>
internal static class Scenarios
{
    public static readonly IReadOnlyDictionary<string, Action> All = new Dictionary<string, Action>
    {
        ["stack-guard-write"] = GuardPageScenarios.WriteBelowStack,
        ["stack-top-write"] = GuardPageScenarios.WriteStackTop,
        ["slot-guard-write"] = GuardPageScenarios.WritePastSlot,
        ["memory-bound-write"] = GuardPageScenarios.WritePastAccessibleMemory,
        ["fiber-stack-overflow"] = FiberScenarios.OverflowFiberStack,
        ["fiber-recursion-within-stack"] = FiberScenarios.RecurseWithinFiberStack,
        ["fiber-unchecked-host-throws"] = FiberScenarios.ThrowFromUncheckedHost,
    };
}
