using System;
using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>A forward "may still hold a stack" analysis over one <see cref="ControlFlowGraph"/>.</summary>
/// <remarks>
/// The state is a bit set of holders that may hold a stack. Finally blocks are applied per branch (a <c>return</c> inside a
/// try does not mix with the path that falls through), and an exception handler starts from every state its try has
/// just before an operation that may throw. Paths that end in <c>throw</c> are not leaks: disposing the Store returns
/// what they held.
/// </remarks>
internal sealed class StackHolderFlowAnalysis
{
    private readonly ControlFlowGraph _graph;
    private readonly StackHolderTransfer _transfer;
    private readonly ulong[] _in;
    private readonly ulong[] _seen;
    private readonly bool[] _visited;
    private readonly Dictionary<(ControlFlowRegion Region, ulong State), ulong> _finallyResults = new();

    private StackHolderFlowAnalysis(ControlFlowGraph graph, StackHolderTransfer transfer)
    {
        _graph = graph;
        _transfer = transfer;
        _in = new ulong[graph.Blocks.Length];
        _seen = new ulong[graph.Blocks.Length];
        _visited = new bool[graph.Blocks.Length];
    }

    /// <summary>Runs to a fixed point, then replays every block once with <paramref name="reporting"/> (which reports
    /// IntoData calls) and returns the holders that may still hold a stack when the method exits normally.</summary>
    public static ulong Run(ControlFlowGraph graph, StackHolderTransfer solving, StackHolderTransfer reporting)
    {
        var analysis = new StackHolderFlowAnalysis(graph, solving);
        analysis.Solve();
        foreach (BasicBlock block in graph.Blocks)
        {
            ulong ignored = 0;
            Transfer(reporting, block, analysis._in[block.Ordinal], ref ignored);
        }
        return analysis._in[graph.Blocks.Length - 1];
    }

    private void Solve()
    {
        var work = new Queue<int>();
        var queued = new bool[_graph.Blocks.Length];
        work.Enqueue(0);
        queued[0] = true;
        while (work.Count > 0)
        {
            int ordinal = work.Dequeue();
            queued[ordinal] = false;
            _visited[ordinal] = true;
            BasicBlock block = _graph.Blocks[ordinal];
            ulong seen = 0;
            ulong output = Transfer(_transfer, block, _in[ordinal], ref seen);
            _seen[ordinal] |= seen;

            foreach (ControlFlowBranch? branch in new[] { block.FallThroughSuccessor, block.ConditionalSuccessor })
            {
                if (branch?.Destination is { } destination)
                {
                    ulong along = _transfer.AlongBranch(block, branch, output);
                    Propagate(destination.Ordinal, ThroughFinally(branch, along, entering: (region, state) => Propagate(region.FirstBlockOrdinal, state, work, queued)), work, queued);
                }
            }
            foreach (int handler in HandlersCovering(block))
            {
                Propagate(handler, _seen[ordinal], work, queued);
            }
        }
    }

    private static ulong Transfer(StackHolderTransfer transfer, BasicBlock block, ulong state, ref ulong seen)
    {
        foreach (IOperation root in TrackedHolders.Roots(block))
        {
            state = transfer.Apply(root, state, ref seen);
        }
        return state;
    }

    private void Propagate(int ordinal, ulong state, Queue<int> work, bool[] queued)
    {
        ulong merged = _in[ordinal] | state;
        if (merged == _in[ordinal] && _visited[ordinal])
        {
            return;
        }
        _in[ordinal] = merged;
        if (!queued[ordinal])
        {
            queued[ordinal] = true;
            work.Enqueue(ordinal);
        }
    }

    /// <summary>The state after the finally blocks a branch runs through; <paramref name="entering"/> is told the state
    /// each finally starts with, so its own blocks are analysed (and reported) too.</summary>
    private ulong ThroughFinally(ControlFlowBranch branch, ulong state, Action<ControlFlowRegion, ulong>? entering)
    {
        foreach (ControlFlowRegion region in branch.FinallyRegions)
        {
            entering?.Invoke(region, state);
            state = ApplyFinally(region, state);
        }
        return state;
    }

    /// <summary>Runs one finally region from <paramref name="entry"/> and merges the states at its normal ends.</summary>
    private ulong ApplyFinally(ControlFlowRegion region, ulong entry)
    {
        if (_finallyResults.TryGetValue((region, entry), out ulong cached))
        {
            return cached;
        }
        var states = new Dictionary<int, ulong> { [region.FirstBlockOrdinal] = entry };
        var work = new Queue<int>();
        work.Enqueue(region.FirstBlockOrdinal);
        ulong result = 0;
        while (work.Count > 0)
        {
            int ordinal = work.Dequeue();
            BasicBlock block = _graph.Blocks[ordinal];
            ulong ignored = 0;
            ulong output = Transfer(_transfer, block, states[ordinal], ref ignored);
            foreach (ControlFlowBranch? branch in new[] { block.FallThroughSuccessor, block.ConditionalSuccessor })
            {
                if (branch is null)
                {
                    continue;
                }
                ulong along = _transfer.AlongBranch(block, branch, output);
                if (branch.Semantics == ControlFlowBranchSemantics.StructuredExceptionHandling && branch.Destination is null)
                {
                    result |= along;
                }
                else if (branch.Destination is { } destination
                    && destination.Ordinal >= region.FirstBlockOrdinal && destination.Ordinal <= region.LastBlockOrdinal)
                {
                    ulong next = ThroughFinally(branch, along, entering: null);
                    ulong previous = states.TryGetValue(destination.Ordinal, out ulong known) ? known : 0;
                    if (!states.ContainsKey(destination.Ordinal) || (previous | next) != previous)
                    {
                        states[destination.Ordinal] = previous | next;
                        work.Enqueue(destination.Ordinal);
                    }
                }
            }
        }
        _finallyResults[(region, entry)] = result;
        return result;
    }

    /// <summary>Entry blocks of the catch, filter and finally handlers whose try contains <paramref name="block"/>.</summary>
    private static IEnumerable<int> HandlersCovering(BasicBlock block)
    {
        // A lambda's or local function's root region is enclosed by the region of the graph it is declared in:
        // handlers out there belong to that other graph, so the walk stops at this graph's root.
        for (ControlFlowRegion? region = block.EnclosingRegion; region is not null && region.Kind != ControlFlowRegionKind.Root; region = region.EnclosingRegion)
        {
            if (region.Kind != ControlFlowRegionKind.Try || region.EnclosingRegion is not { } tryAndHandlers)
            {
                continue;
            }
            foreach (ControlFlowRegion handler in tryAndHandlers.NestedRegions)
            {
                if (ReferenceEquals(handler, region))
                {
                    continue;
                }
                yield return handler.FirstBlockOrdinal;
                if (handler.Kind == ControlFlowRegionKind.FilterAndHandler)
                {
                    foreach (ControlFlowRegion part in handler.NestedRegions)
                    {
                        yield return part.FirstBlockOrdinal;
                    }
                }
            }
        }
    }
}
