using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>What a tracked variable holds a stack through.</summary>
internal enum HolderKind
{
    /// <summary>A <c>StackToken</c> local from <c>store.CheckoutStack(...)</c>.</summary>
    Token,
    /// <summary>A <c>Fiber</c> from <c>Fiber.Create(store, ...)</c>: holds its stack until disposed or run to its end.</summary>
    Fiber,
    /// <summary>The task of <c>fiber.RunAsync()</c> or <c>store.RunFiberAsync(...)</c>, started and not yet awaited:
    /// the fiber may be suspended.</summary>
    Run,
}

/// <summary>One variable that may hold a stack of a Store, with the stores it came from.</summary>
internal sealed class TrackedHolder
{
    public TrackedHolder(ISymbol variable, HolderKind kind, IOperation firstAcquire, int fiberIndex)
    {
        Variable = variable;
        Kind = kind;
        FirstAcquire = firstAcquire;
        FiberIndex = fiberIndex;
    }

    /// <summary>A local, a parameter, or an instance field of <c>this</c> (tokens: locals only).</summary>
    public ISymbol Variable { get; }

    public HolderKind Kind { get; }

    /// <summary>Where the stack is first taken; leaks are reported here.</summary>
    public IOperation FirstAcquire { get; }

    /// <summary>For a run: the index of the tracked fiber it runs, or -1 when the fiber is not a variable.</summary>
    public int FiberIndex { get; }

    public bool IsField => Variable is IFieldSymbol;

    /// <summary>Variables holding the store(s) it came from; empty when the store is a computed expression.</summary>
    public HashSet<ISymbol> Stores { get; } = new(SymbolEqualityComparer.Default);
}

/// <summary>The stack holders of one control flow graph, each given a bit in the analysis state (at most 64), plus
/// what is needed to tell which store an expression is: simple store aliases and single-valued flow captures.</summary>
internal sealed class TrackedHolders
{
    public const int MaxHolders = 64;

    private readonly Dictionary<ISymbol, int> _index = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<ISymbol, ISymbol> _storeAliases = new(SymbolEqualityComparer.Default);
    private readonly Dictionary<CaptureId, IOperation?> _captures = new();

    private TrackedHolders()
    {
    }

    public List<TrackedHolder> Holders { get; } = new();

    public int Count => Holders.Count;

    /// <summary>Bits of the holders that are fields of <c>this</c>: a call that may reach them ends their tracking.</summary>
    public ulong FieldMask { get; private set; }

    public int IndexOf(ISymbol? variable) => variable is not null && _index.TryGetValue(variable, out int index) ? index : -1;

    /// <summary>The holder bit of the variable <paramref name="operation"/> reads, or -1.</summary>
    public int IndexOfReference(IOperation? operation) => IndexOf(HolderVariable(operation));

    /// <summary>Bits of a fiber and of every run of it; for a run, of the run and its fiber.</summary>
    public ulong Family(int index)
    {
        TrackedHolder holder = Holders[index];
        int fiber = holder.Kind == HolderKind.Run ? holder.FiberIndex : holder.Kind == HolderKind.Fiber ? index : -1;
        if (fiber < 0)
        {
            return Bit(index);
        }
        ulong bits = Bit(fiber);
        for (int i = 0; i < Holders.Count; i++)
        {
            if (Holders[i].Kind == HolderKind.Run && Holders[i].FiberIndex == fiber)
            {
                bits |= Bit(i);
            }
        }
        return bits | Bit(index);
    }

    /// <summary>The store variable an expression denotes, through conversions, flow captures and simple aliases
    /// (<c>var s2 = store;</c>), or null when it is computed.</summary>
    public ISymbol? ResolveStore(IOperation? operation)
    {
        ISymbol? variable = AllocatorSymbols.Variable(ThroughCaptures(operation));
        for (int hops = 0; variable is not null && hops < 8 && _storeAliases.TryGetValue(variable, out ISymbol? target); hops++)
        {
            variable = target;
        }
        return variable;
    }

    /// <summary>The variable (local, parameter, instance field of this) an expression reads, or null.</summary>
    public static ISymbol? HolderVariable(IOperation? operation) => AllocatorSymbols.Unwrap(operation) switch
    {
        ILocalReferenceOperation local => local.Local,
        IParameterReferenceOperation parameter => parameter.Parameter,
        IFieldReferenceOperation { Instance: IInstanceReferenceOperation, Field.IsStatic: false } field => field.Field,
        _ => null,
    };

    public static ulong Bit(int index) => 1UL << index;

    private IOperation? ThroughCaptures(IOperation? operation)
    {
        operation = AllocatorSymbols.Unwrap(operation);
        for (int hops = 0; hops < 8 && operation is IFlowCaptureReferenceOperation reference; hops++)
        {
            operation = _captures.TryGetValue(reference.Id, out IOperation? value) ? AllocatorSymbols.Unwrap(value) : null;
        }
        return operation;
    }

    /// <summary>Finds the holders of one graph, skipping <paramref name="excluded"/> variables (captured by a nested
    /// function, so their lifetime is not visible here). Null when there are none or too many to track.</summary>
    public static TrackedHolders? Collect(ControlFlowGraph graph, AllocatorSymbols symbols, ISet<ISymbol> excluded)
    {
        var holders = new TrackedHolders();
        var assignments = new List<ISimpleAssignmentOperation>();
        var assignmentCounts = new Dictionary<ISymbol, int>(SymbolEqualityComparer.Default);
        foreach (BasicBlock block in graph.Blocks)
        {
            foreach (IOperation root in Roots(block))
            {
                foreach (IOperation operation in root.DescendantsAndSelf())
                {
                    if (operation is ISimpleAssignmentOperation assignment)
                    {
                        assignments.Add(assignment);
                        if (HolderVariable(assignment.Target) is ILocalSymbol local)
                        {
                            assignmentCounts[local] = assignmentCounts.TryGetValue(local, out int count) ? count + 1 : 1;
                        }
                    }
                    else if (operation is IFlowCaptureOperation capture)
                    {
                        // A capture written on two paths (a ?: or ??) has no single value.
                        holders._captures[capture.Id] = holders._captures.ContainsKey(capture.Id) ? null : capture.Value;
                    }
                }
            }
        }

        // Aliases first: a Store local assigned exactly once, from another store variable.
        foreach (ISimpleAssignmentOperation assignment in assignments)
        {
            if (HolderVariable(assignment.Target) is ILocalSymbol local && symbols.IsStore(local.Type) && assignmentCounts[local] == 1
                && AllocatorSymbols.Variable(holders.ThroughCaptures(assignment.Value)) is { } source
                && !SymbolEqualityComparer.Default.Equals(source, local))
            {
                holders._storeAliases[local] = source;
            }
        }

        // Tokens and fibers, then runs (which point at their fiber).
        foreach (ISimpleAssignmentOperation assignment in assignments)
        {
            ISymbol? variable = HolderVariable(assignment.Target);
            if (variable is null || excluded.Contains(variable))
            {
                continue;
            }
            if (variable is ILocalSymbol && symbols.IsCheckout(assignment.Value))
            {
                IOperation store = ((IInvocationOperation)AllocatorSymbols.Unwrap(assignment.Value)!).Instance!;
                if (!holders.Add(variable, HolderKind.Token, assignment.Value, -1, holders.ResolveStore(store)))
                {
                    return null;
                }
            }
            else if (symbols.FiberCreateStore(assignment.Value) is { } store)
            {
                if (!holders.Add(variable, HolderKind.Fiber, assignment.Value, -1, holders.ResolveStore(store)))
                {
                    return null;
                }
            }
        }
        foreach (ISimpleAssignmentOperation assignment in assignments)
        {
            ISymbol? variable = HolderVariable(assignment.Target);
            if (variable is null || excluded.Contains(variable))
            {
                continue;
            }
            if (symbols.ScopedRunStore(assignment.Value) is { } scopedStore)
            {
                // store.RunFiberAsync(...): the stack is out until this task completes.
                if (!holders.Add(variable, HolderKind.Run, assignment.Value, -1, holders.ResolveStore(scopedStore)))
                {
                    return null;
                }
                continue;
            }
            if (symbols.RunStartFiber(assignment.Value) is not { } fiber)
            {
                continue;
            }
            int fiberIndex = holders.IndexOfReference(fiber);
            if (fiberIndex >= 0 && holders.Holders[fiberIndex].Kind == HolderKind.Fiber)
            {
                if (!holders.Add(variable, HolderKind.Run, assignment.Value, fiberIndex, null))
                {
                    return null;
                }
                holders.Holders[holders.IndexOf(variable)].Stores.UnionWith(holders.Holders[fiberIndex].Stores);
            }
            else if (symbols.FiberCreateStore(fiber) is { } store)
            {
                // Fiber.Create(store, ...).RunAsync(): a run with no fiber variable.
                if (!holders.Add(variable, HolderKind.Run, assignment.Value, -1, holders.ResolveStore(store)))
                {
                    return null;
                }
            }
        }
        return holders.Count == 0 ? null : holders;
    }

    /// <summary>Adds (or extends) the holder of <paramref name="variable"/>; false when there are too many to track.
    /// An <c>object</c> variable given a fiber and later a run keeps its first kind.</summary>
    private bool Add(ISymbol variable, HolderKind kind, IOperation acquire, int fiberIndex, ISymbol? store)
    {
        int index = IndexOf(variable);
        if (index < 0)
        {
            if (Count == MaxHolders)
            {
                return false;
            }
            index = Count;
            _index.Add(variable, index);
            Holders.Add(new TrackedHolder(variable, kind, acquire, fiberIndex));
            if (variable is IFieldSymbol)
            {
                FieldMask |= Bit(index);
            }
        }
        if (store is not null && Holders[index].Kind == kind)
        {
            Holders[index].Stores.Add(store);
        }
        return true;
    }

    public static IEnumerable<IOperation> Roots(BasicBlock block)
    {
        foreach (IOperation operation in block.Operations)
        {
            yield return operation;
        }
        if (block.BranchValue is { } branchValue)
        {
            yield return branchValue;
        }
    }
}
