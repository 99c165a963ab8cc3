using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>Finds stack tokens that may still be checked out when their Store is consumed (ALLOC100), tokens that leave
/// a method without being returned (ALLOC101) and checkouts whose token is dropped (ALLOC102).</summary>
/// <remarks>See <see cref="StackTokenTransfer"/> for what counts as returning a token and as letting it escape.</remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StackTokenAnalyzer : DiagnosticAnalyzer
{
    /// <inheritdoc />
    public override ImmutableArray<DiagnosticDescriptor> SupportedDiagnostics { get; } = ImmutableArray.Create(
        DiagnosticDescriptors.IntoDataWhileStackHeld,
        DiagnosticDescriptors.StackTokenNotReturned,
        DiagnosticDescriptors.StackTokenDiscarded);

    /// <inheritdoc />
    public override void Initialize(AnalysisContext context)
    {
        context.ConfigureGeneratedCodeAnalysis(GeneratedCodeAnalysisFlags.None);
        context.EnableConcurrentExecution();
        context.RegisterCompilationStartAction(start =>
        {
            if (start.Compilation.GetTypeByMetadataName(KnownNames.Store) is not { } store
                || start.Compilation.GetTypeByMetadataName(KnownNames.StackToken) is not { } token)
            {
                return;
            }
            var symbols = new StoreSymbols(store, token);
            start.RegisterOperationAction(c => AnalyzeDiscard(c, symbols), OperationKind.Invocation);
            start.RegisterOperationBlockAction(c => AnalyzeBlock(c, symbols));
        });
    }

    private static void AnalyzeDiscard(OperationAnalysisContext context, StoreSymbols symbols)
    {
        var invocation = (IInvocationOperation)context.Operation;
        if (!symbols.IsCall(invocation, "CheckoutStack"))
        {
            return;
        }
        IOperation? parent = invocation.Parent;
        while (parent is IConversionOperation)
        {
            parent = parent.Parent;
        }
        if (parent is IExpressionStatementOperation || parent is ISimpleAssignmentOperation { Target: IDiscardOperation })
        {
            context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.StackTokenDiscarded, invocation.Syntax.GetLocation()));
        }
    }

    private static void AnalyzeBlock(OperationBlockAnalysisContext context, StoreSymbols symbols)
    {
        var roots = new HashSet<IOperation>();
        foreach (IOperation block in context.OperationBlocks)
        {
            // Blocks are the body's pieces; the graph is built for the method body they hang off.
            IOperation root = block;
            while (root.Parent is not null)
            {
                root = root.Parent;
            }
            if (root is not (IMethodBodyBaseOperation or IBlockOperation) || !roots.Add(root))
            {
                continue;
            }
            if (!root.Descendants().Any(o => o is IInvocationOperation invocation && symbols.IsCall(invocation, "CheckoutStack")))
            {
                continue;
            }
            ISet<ILocalSymbol> captured = CapturedTokens(root, symbols);
            AnalyzeGraph(context, context.GetControlFlowGraph(block), symbols, captured);
        }
    }

    /// <summary>Analyses one graph, then the graphs of the lambdas and local functions inside it.</summary>
    private static void AnalyzeGraph(OperationBlockAnalysisContext context, ControlFlowGraph graph, StoreSymbols symbols, ISet<ILocalSymbol> captured)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        if (TrackedTokens.Collect(graph, symbols, captured) is { } tokens)
        {
            var intoDataReports = new HashSet<(IInvocationOperation, ILocalSymbol)>();
            var solving = new StackTokenTransfer(symbols, tokens, onIntoDataWhileHeld: null);
            var reporting = new StackTokenTransfer(symbols, tokens, (invocation, token) =>
            {
                if (intoDataReports.Add((invocation, token.Local)))
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.IntoDataWhileStackHeld,
                        invocation.Syntax.GetLocation(), StoreSymbols.Unwrap(invocation.Instance)?.Syntax.ToString() ?? "store", token.Local.Name));
                }
            });
            ulong heldAtExit = StackTokenFlowAnalysis.Run(graph, solving, reporting);
            for (int i = 0; i < tokens.Count; i++)
            {
                if ((heldAtExit & StackTokenTransfer.Bit(i)) != 0)
                {
                    TrackedToken token = tokens.Tokens[i];
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.StackTokenNotReturned,
                        token.FirstCheckout.Syntax.GetLocation(), token.Local.Name));
                }
            }
        }

        foreach (IMethodSymbol localFunction in graph.LocalFunctions)
        {
            AnalyzeGraph(context, graph.GetLocalFunctionControlFlowGraph(localFunction, context.CancellationToken), symbols, captured);
        }
        foreach (BasicBlock block in graph.Blocks)
        {
            foreach (IOperation root in TrackedTokens.Roots(block))
            {
                foreach (IFlowAnonymousFunctionOperation lambda in root.DescendantsAndSelf().OfType<IFlowAnonymousFunctionOperation>())
                {
                    AnalyzeGraph(context, graph.GetAnonymousFunctionControlFlowGraph(lambda, context.CancellationToken), symbols, captured);
                }
            }
        }
    }

    /// <summary>Token locals used inside a lambda or local function other than the one declaring them: their
    /// lifetime is not visible in one graph, so they count as escaped.</summary>
    private static ISet<ILocalSymbol> CapturedTokens(IOperation block, StoreSymbols symbols)
    {
        var captured = new HashSet<ILocalSymbol>(SymbolEqualityComparer.Default);
        foreach (ILocalReferenceOperation reference in block.Descendants().OfType<ILocalReferenceOperation>())
        {
            if (!SymbolEqualityComparer.Default.Equals(reference.Local.Type, symbols.StackToken))
            {
                continue;
            }
            ISymbol? function = null;
            for (IOperation? parent = reference.Parent; parent is not null; parent = parent.Parent)
            {
                if (parent is IAnonymousFunctionOperation lambda)
                {
                    function = lambda.Symbol;
                    break;
                }
                if (parent is ILocalFunctionOperation localFunction)
                {
                    function = localFunction.Symbol;
                    break;
                }
            }
            if (function is not null && !SymbolEqualityComparer.Default.Equals(reference.Local.ContainingSymbol, function))
            {
                captured.Add(reference.Local);
            }
        }
        return captured;
    }
}
