using System.Collections.Immutable;
using System.Composition;
using System.Globalization;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using Allocator.Generators.Analyzers;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CodeActions;
using Microsoft.CodeAnalysis.CodeFixes;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Allocator.Generators.CodeFixes;

/// <summary>ALLOC100: gives the stack back just before <c>IntoData</c>, by inserting one statement before the one that
/// consumes the Store: <c>await fiber.RunAsync();</c> or <c>fiber.Dispose();</c> for a fiber, <c>await run;</c> for a
/// started run, <c>store.ReturnStack(token);</c> for a token.</summary>
/// <remarks>Offered only where it is unambiguous: the statement sits in a block (or a switch section, or is a top-level
/// statement), the holder's name means the tracked variable there, and it is already declared. An await is offered only
/// where the enclosing function is async and not inside a lock, and "await fiber.RunAsync()" only when nothing in the
/// function runs that fiber already (a fiber runs once).</remarks>
[ExportCodeFixProvider(LanguageNames.CSharp, Name = nameof(IntoDataWhileStackHeldCodeFix)), Shared]
public sealed class IntoDataWhileStackHeldCodeFix : CodeFixProvider
{
    private const string DiagnosticId = "ALLOC100";

    /// <inheritdoc />
    public override ImmutableArray<string> FixableDiagnosticIds { get; } = ImmutableArray.Create(DiagnosticId);

    /// <summary>No fix-all: what to insert depends on the path to each IntoData, so each is chosen on its own.</summary>
    public override FixAllProvider? GetFixAllProvider() => null;

    /// <inheritdoc />
    public override async Task RegisterCodeFixesAsync(CodeFixContext context)
    {
        SyntaxNode? root = await context.Document.GetSyntaxRootAsync(context.CancellationToken).ConfigureAwait(false);
        SemanticModel? model = await context.Document.GetSemanticModelAsync(context.CancellationToken).ConfigureAwait(false);
        if (root is null || model is null)
        {
            return;
        }
        foreach (Diagnostic diagnostic in context.Diagnostics)
        {
            if (diagnostic.Id != DiagnosticId
                || !diagnostic.Properties.TryGetValue(StackHolderProperties.Kind, out string? kind)
                || !diagnostic.Properties.TryGetValue(StackHolderProperties.Holder, out string? holder) || holder is null
                || root.FindNode(diagnostic.Location.SourceSpan, getInnermostNodeForTie: true) is not InvocationExpressionSyntax { Expression: MemberAccessExpressionSyntax intoData } invocation
                || invocation.Ancestors().FirstOrDefault(a => a is StatementSyntax or AnonymousFunctionExpressionSyntax) is not StatementSyntax statement
                || !CanInsertBefore(statement)
                || HolderAt(model, statement, holder, diagnostic, context.CancellationToken) is not { } variable)
            {
                continue;
            }
            bool canAwait = CanAwait(statement);
            string name = holder;
            switch (kind)
            {
                case "Fiber":
                    if (canAwait && !RunsAnywhere(model, statement, variable, context.CancellationToken))
                    {
                        Register(context, diagnostic, root, statement, Await($"{name}.RunAsync()"), $"Await {name}.RunAsync() before IntoData", "await-run");
                    }
                    Register(context, diagnostic, root, statement, SyntaxFactory.ParseStatement($"{name}.Dispose();"), $"Dispose {name} before IntoData", "dispose");
                    break;
                case "Run":
                    if (canAwait)
                    {
                        Register(context, diagnostic, root, statement, Await(name), $"Await {name} before IntoData", "await");
                    }
                    break;
                case "Token":
                    Register(context, diagnostic, root, statement, SyntaxFactory.ParseStatement($"{intoData.Expression}.ReturnStack({name});"), $"Return {name} with ReturnStack before IntoData", "return");
                    break;
            }
        }
    }

    /// <summary><c>await expression;</c>, built rather than parsed: outside an async context the parser reads
    /// <c>await x;</c> as a declaration of x.</summary>
    private static StatementSyntax Await(string expression) =>
        SyntaxFactory.ExpressionStatement(SyntaxFactory.AwaitExpression(SyntaxFactory.ParseExpression(expression)));

    private static void Register(CodeFixContext context, Diagnostic diagnostic, SyntaxNode root, StatementSyntax statement, StatementSyntax code, string title, string key)
    {
        string holder = diagnostic.Properties[StackHolderProperties.Holder]!;
        context.RegisterCodeFix(
            CodeAction.Create(title, _ => Task.FromResult(context.Document.WithSyntaxRoot(InsertBefore(root, statement, code))), $"{DiagnosticId}:{key}:{holder}"),
            diagnostic);
    }

    /// <summary>Inserts <paramref name="code"/> as a statement of its own just before <paramref name="statement"/>, at the
    /// same indentation.</summary>
    private static SyntaxNode InsertBefore(SyntaxNode root, StatementSyntax statement, StatementSyntax code)
    {
        SyntaxNode anchor = statement.Parent is GlobalStatementSyntax global ? global : statement;
        SyntaxTriviaList leading = anchor.GetLeadingTrivia();
        // Only the indentation of the statement's own line: comments above it stay where they are.
        SyntaxTriviaList indentation = leading.Count > 0 && leading.Last().IsKind(SyntaxKind.WhitespaceTrivia)
            ? SyntaxFactory.TriviaList(leading.Last())
            : SyntaxTriviaList.Empty;
        // The file's own line ending (the statement itself may end the file without one).
        SyntaxTrivia newLine = root.DescendantTrivia().FirstOrDefault(t => t.IsKind(SyntaxKind.EndOfLineTrivia));
        if (!newLine.IsKind(SyntaxKind.EndOfLineTrivia))
        {
            newLine = SyntaxFactory.ElasticCarriageReturnLineFeed;
        }
        StatementSyntax inserted = code.NormalizeWhitespace().WithLeadingTrivia(indentation).WithTrailingTrivia(newLine);
        SyntaxNode node = anchor is GlobalStatementSyntax ? SyntaxFactory.GlobalStatement(inserted) : inserted;
        // Comments above the statement move above the inserted one, which now opens the line.
        return root.ReplaceNode(anchor, new[] { node.WithLeadingTrivia(leading), anchor.WithLeadingTrivia(indentation) });
    }

    /// <summary>A statement of a block that evaluates IntoData once, right after the statement before it (not a loop
    /// condition, which runs again after the loop body).</summary>
    private static bool CanInsertBefore(StatementSyntax statement) =>
        statement.Parent is BlockSyntax or SwitchSectionSyntax or GlobalStatementSyntax
        && statement is ExpressionStatementSyntax or LocalDeclarationStatementSyntax or ReturnStatementSyntax or IfStatementSyntax
            or SwitchStatementSyntax or ThrowStatementSyntax or YieldStatementSyntax;

    /// <summary>The symbol <paramref name="holder"/> names at <paramref name="statement"/>, when it is the variable the
    /// analyzer tracked (same declaration) and is declared before the statement.</summary>
    private static ISymbol? HolderAt(SemanticModel model, StatementSyntax statement, string holder, Diagnostic diagnostic, CancellationToken cancellationToken)
    {
        if (!diagnostic.Properties.TryGetValue(StackHolderProperties.DeclaredAt, out string? declaredText)
            || !int.TryParse(declaredText, NumberStyles.None, CultureInfo.InvariantCulture, out int declaredAt))
        {
            return null;
        }
        foreach (ISymbol symbol in model.LookupSymbols(statement.SpanStart, name: holder))
        {
            SyntaxReference? declaration = symbol.DeclaringSyntaxReferences.FirstOrDefault();
            if (symbol is ILocalSymbol or IParameterSymbol or IFieldSymbol && declaration is not null && declaration.Span.Start == declaredAt
                && (symbol is not ILocalSymbol || (declaration.SyntaxTree == statement.SyntaxTree && declaration.Span.End <= statement.SpanStart)))
            {
                cancellationToken.ThrowIfCancellationRequested();
                return symbol;
            }
        }
        return null;
    }

    /// <summary>Whether an <c>await</c> may stand at <paramref name="statement"/>: inside an async function (or top-level
    /// statements) and not inside a lock.</summary>
    private static bool CanAwait(StatementSyntax statement)
    {
        foreach (SyntaxNode ancestor in statement.Ancestors())
        {
            switch (ancestor)
            {
                case LockStatementSyntax:
                    return false;
                case AnonymousFunctionExpressionSyntax lambda:
                    return lambda.AsyncKeyword.IsKind(SyntaxKind.AsyncKeyword);
                case LocalFunctionStatementSyntax local:
                    return local.Modifiers.Any(SyntaxKind.AsyncKeyword);
                case BaseMethodDeclarationSyntax method:
                    return method.Modifiers.Any(SyntaxKind.AsyncKeyword);
                case AccessorDeclarationSyntax:
                    return false;
                case GlobalStatementSyntax:
                    return true;
            }
        }
        return false;
    }

    /// <summary>Whether the function around <paramref name="statement"/> calls <c>RunAsync</c> on the fiber anywhere.</summary>
    private static bool RunsAnywhere(SemanticModel model, StatementSyntax statement, ISymbol fiber, CancellationToken cancellationToken)
    {
        SyntaxNode scope = statement.Ancestors().FirstOrDefault(a => a is AnonymousFunctionExpressionSyntax or LocalFunctionStatementSyntax or BaseMethodDeclarationSyntax or AccessorDeclarationSyntax or CompilationUnitSyntax)
            ?? statement.SyntaxTree.GetRoot(cancellationToken);
        foreach (InvocationExpressionSyntax call in scope.DescendantNodes().OfType<InvocationExpressionSyntax>())
        {
            if (call.Expression is MemberAccessExpressionSyntax { Name.Identifier.ValueText: "RunAsync" } access
                && SymbolEqualityComparer.Default.Equals(model.GetSymbolInfo(access.Expression, cancellationToken).Symbol, fiber))
            {
                return true;
            }
        }
        return false;
    }
}
