using System.Collections.Generic;
using System.Collections.Immutable;
using System.Globalization;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.Diagnostics;
using Microsoft.CodeAnalysis.FlowAnalysis;
using Microsoft.CodeAnalysis.Operations;

namespace Allocator.Generators.Analyzers;

/// <summary>Finds Stores consumed (<c>IntoData</c>) while a stack token, a fiber or a started run may still hold one of
/// their stacks (ALLOC100), tokens that leave a method without being returned (ALLOC101) and checkouts whose token is
/// dropped (ALLOC102).</summary>
/// <remarks>See <see cref="StackHolderTransfer"/> for what takes a stack, what gives it back and what counts as an
/// escape.</remarks>
[DiagnosticAnalyzer(LanguageNames.CSharp)]
public sealed class StackHolderAnalyzer : DiagnosticAnalyzer
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
            var symbols = new AllocatorSymbols(store, token, start.Compilation.GetTypeByMetadataName(KnownNames.Fiber));
            start.RegisterOperationAction(c => AnalyzeDiscard(c, symbols), OperationKind.Invocation);
            start.RegisterOperationBlockAction(c => AnalyzeBlock(c, symbols));
        });
    }

    private static void AnalyzeDiscard(OperationAnalysisContext context, AllocatorSymbols symbols)
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

    private static void AnalyzeBlock(OperationBlockAnalysisContext context, AllocatorSymbols symbols)
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
            if (root is not (IMethodBodyBaseOperation or IBlockOperation) || !roots.Add(root) || !MayHoldStacks(root, symbols))
            {
                continue;
            }
            ISet<ISymbol> captured = CapturedVariables(root);
            AnalyzeGraph(context, context.GetControlFlowGraph(block), symbols, captured);
        }
    }

    /// <summary>A cheap syntax-tree pass so that methods without checkouts, or without both a fiber and an IntoData,
    /// never get a control flow graph.</summary>
    private static bool MayHoldStacks(IOperation root, AllocatorSymbols symbols)
    {
        bool fiber = false, intoData = false;
        foreach (IOperation operation in root.Descendants())
        {
            if (operation is not IInvocationOperation invocation)
            {
                continue;
            }
            if (symbols.IsCall(invocation, "CheckoutStack"))
            {
                return true;
            }
            fiber |= symbols.FiberCreateStore(invocation) is not null || symbols.IsCall(invocation, "RunFiberAsync");
            intoData |= symbols.IsCall(invocation, "IntoData");
            if (fiber && intoData)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Analyses one graph, then the graphs of the lambdas and local functions inside it.</summary>
    private static void AnalyzeGraph(OperationBlockAnalysisContext context, ControlFlowGraph graph, AllocatorSymbols symbols, ISet<ISymbol> captured)
    {
        context.CancellationToken.ThrowIfCancellationRequested();
        if (TrackedHolders.Collect(graph, symbols, captured) is { } holders)
        {
            var intoDataReports = new HashSet<(IInvocationOperation, int)>();
            var solving = new StackHolderTransfer(symbols, holders, onIntoDataWhileHeld: null);
            var reporting = new StackHolderTransfer(symbols, holders, (invocation, index, state) =>
            {
                // A fiber whose run may be pending is reported once, as the run: awaiting the run settles both.
                bool runPending = holders.Holders[index].Kind == HolderKind.Fiber && (state & holders.Family(index) & ~TrackedHolders.Bit(index)) != 0;
                if (!runPending && intoDataReports.Add((invocation, index)))
                {
                    context.ReportDiagnostic(IntoDataDiagnostic(invocation, holders, index));
                }
            });
            ulong heldAtExit = StackHolderFlowAnalysis.Run(graph, solving, reporting);
            for (int i = 0; i < holders.Count; i++)
            {
                TrackedHolder holder = holders.Holders[i];
                if (holder.Kind == HolderKind.Token && (heldAtExit & TrackedHolders.Bit(i)) != 0)
                {
                    context.ReportDiagnostic(Diagnostic.Create(DiagnosticDescriptors.StackTokenNotReturned,
                        holder.FirstAcquire.Syntax.GetLocation(), holder.Variable.Name));
                }
            }
        }

        foreach (IMethodSymbol localFunction in graph.LocalFunctions)
        {
            AnalyzeGraph(context, graph.GetLocalFunctionControlFlowGraph(localFunction, context.CancellationToken), symbols, captured);
        }
        foreach (BasicBlock block in graph.Blocks)
        {
            foreach (IOperation root in TrackedHolders.Roots(block))
            {
                foreach (IFlowAnonymousFunctionOperation lambda in root.DescendantsAndSelf().OfType<IFlowAnonymousFunctionOperation>())
                {
                    AnalyzeGraph(context, graph.GetAnonymousFunctionControlFlowGraph(lambda, context.CancellationToken), symbols, captured);
                }
            }
        }
    }

    private static Diagnostic IntoDataDiagnostic(IInvocationOperation invocation, TrackedHolders holders, int index)
    {
        TrackedHolder holder = holders.Holders[index];
        string name = holder.Variable.Name;
        string store = AllocatorSymbols.Unwrap(invocation.Instance)?.Syntax.ToString() ?? "store";
        (string what, string fix) = holder.Kind switch
        {
            HolderKind.Token => ($"stack token '{name}' may still be checked out", "return it with ReturnStack"),
            HolderKind.Fiber => ($"fiber '{name}' may still hold its stack", $"await {name}.RunAsync() or call {name}.Dispose()"),
            _ => ($"the run '{name}'{(holder.FiberIndex >= 0 ? $" of fiber '{holders.Holders[holder.FiberIndex].Variable.Name}'" : "")} may not have finished", $"await {name}"),
        };
        ImmutableDictionary<string, string?> properties = ImmutableDictionary<string, string?>.Empty
            .Add(StackHolderProperties.Kind, holder.Kind.ToString())
            .Add(StackHolderProperties.Holder, name)
            .Add(StackHolderProperties.DeclaredAt, holder.Variable.DeclaringSyntaxReferences.FirstOrDefault()?.Span.Start.ToString(CultureInfo.InvariantCulture));
        return Diagnostic.Create(DiagnosticDescriptors.IntoDataWhileStackHeld, invocation.Syntax.GetLocation(), properties, store, what, fix);
    }

    /// <summary>Variables used inside a lambda or local function other than the one declaring them (fields of this
    /// always count): their lifetime is not visible in one graph, so they count as escaped.</summary>
    private static ISet<ISymbol> CapturedVariables(IOperation block)
    {
        var captured = new HashSet<ISymbol>(SymbolEqualityComparer.Default);
        foreach (IOperation reference in block.Descendants())
        {
            ISymbol? variable = reference switch
            {
                ILocalReferenceOperation local => local.Local,
                IParameterReferenceOperation parameter => parameter.Parameter,
                IFieldReferenceOperation field => field.Field,
                _ => null,
            };
            if (variable is null)
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
            if (function is not null && !SymbolEqualityComparer.Default.Equals(variable.ContainingSymbol, function))
            {
                captured.Add(variable);
            }
        }
        return captured;
    }
}
