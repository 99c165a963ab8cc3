using System.Collections.Generic;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>One StackToken local assigned from CheckoutStack, with the stores it was checked out of.</summary>
internal sealed class TrackedToken
{
    public TrackedToken(ILocalSymbol local, IOperation firstCheckout)
    {
        Local = local;
        FirstCheckout = firstCheckout;
    }

    public ILocalSymbol Local { get; }

    /// <summary>Where the token is first checked out; leaks are reported here.</summary>
    public IOperation FirstCheckout { get; }

    /// <summary>Variables holding the store(s) it came from; empty when the store is a computed expression.</summary>
    public HashSet<ISymbol> Stores { get; } = new(SymbolEqualityComparer.Default);
}

/// <summary>The tokens of one control flow graph, each given a bit in the analysis state (at most 64).</summary>
internal sealed class TrackedTokens
{
    public const int MaxTokens = 64;

    private readonly Dictionary<ILocalSymbol, int> _index = new(SymbolEqualityComparer.Default);

    private TrackedTokens()
    {
    }

    public List<TrackedToken> Tokens { get; } = new();

    public int Count => Tokens.Count;

    public int IndexOf(ILocalSymbol local) => _index.TryGetValue(local, out int index) ? index : -1;

    /// <summary>Finds locals assigned from CheckoutStack, skipping those captured by lambdas or local functions
    /// (their lifetime is not visible in this graph). Null when there are none or too many to track.</summary>
    public static TrackedTokens? Collect(ControlFlowGraph graph, StoreSymbols symbols, ISet<ILocalSymbol> captured)
    {
        var tokens = new TrackedTokens();
        foreach (BasicBlock block in graph.Blocks)
        {
            foreach (IOperation root in Roots(block))
            {
                foreach (IOperation operation in root.DescendantsAndSelf())
                {
                    if (operation is ISimpleAssignmentOperation { Target: ILocalReferenceOperation target } assignment
                        && symbols.IsCheckout(assignment.Value)
                        && !captured.Contains(target.Local))
                    {
                        ISymbol? store = StoreSymbols.StoreVariable(((IInvocationOperation)StoreSymbols.Unwrap(assignment.Value)!).Instance);
                        int index = tokens.IndexOf(target.Local);
                        if (index < 0)
                        {
                            if (tokens.Count == MaxTokens)
                            {
                                return null;
                            }
                            index = tokens.Count;
                            tokens._index.Add(target.Local, index);
                            tokens.Tokens.Add(new TrackedToken(target.Local, assignment.Value));
                        }
                        if (store is not null)
                        {
                            tokens.Tokens[index].Stores.Add(store);
                        }
                    }
                }
            }
        }
        return tokens.Count == 0 ? null : tokens;
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
