using System.Collections.Immutable;
using Allocator.Generators.Tests.Support;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Tests;

/// <summary>ALLOC100-102 against the real Store&lt;T&gt;: each bug shape, and the correct shapes that must stay silent.</summary>
public class StackHolderAnalyzerTests
{
    private static Task<ImmutableArray<Diagnostic>> Analyze(string members) => TestCompilation.AnalyzeAsync($$"""
        using System;
        using System.Collections.Generic;
        using Allocator;

        public class C
        {
            private Store<int> _store = null!;
            private StackToken _kept;
            private static void Work() { }
            private static bool Flag() => DateTime.Now.Ticks % 2 == 0;
            private static void Hand(Store<int> store, StackToken token) => store.ReturnStack(token);

        {{members}}
        }
        """);

    // ---- The correct patterns: no diagnostics at all.

    [Fact]
    public async Task TryFinallyReturnThenIntoDataIsClean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> store)
            {
                StackToken token = store.CheckoutStack("fiber");
                try
                {
                    Work();
                }
                finally
                {
                    store.ReturnStack(token);
                }
                return store.IntoData();
            }
            """));
    }

    [Fact]
    public async Task EarlyReturnThroughFinallyIsClean()
    {
        // The return inside the try and the fall-through path each run the finally on their own.
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                try
                {
                    if (Flag()) return 1;
                    Work();
                }
                finally
                {
                    store.ReturnStack(token);
                }
                return store.IntoData();
            }
            """));
    }

    [Fact]
    public async Task ReturnOnEveryBranchIncludingInsideForeachIsClean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> store, List<int> items)
            {
                var token = store.CheckoutStack("fiber");
                foreach (int item in items)
                {
                    if (item == 0)
                    {
                        store.ReturnStack(token);
                        return 0;
                    }
                }
                store.ReturnStack(token);
                return store.IntoData();
            }
            """));
    }

    [Fact]
    public async Task TryReturnStackAndReadsAreClean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                nint top = store.GetStackBounds(token).Top + (nint)token.StoreId;
                if (!token.IsValid || token == default || token.Equals(default(StackToken))) Work();
                if (!store.TryReturnStack(token)) throw new InvalidOperationException();
                return store.IntoData() + (int)top;
            }
            """));
    }

    [Fact]
    public async Task TokensThatEscapeAreNotReported()
    {
        DiagnosticAssert.Empty(await Analyze("""
            StackToken Returned(Store<int> store) => store.CheckoutStack("returned");
            StackToken ReturnedLocal(Store<int> store) { var t = store.CheckoutStack("returned"); return t; }
            void Field(Store<int> store) { var t = store.CheckoutStack("field"); _kept = t; }
            int Passed(Store<int> store) { var t = store.CheckoutStack("passed"); Hand(store, t); return store.IntoData(); }
            void Copied(Store<int> store, List<StackToken> all) { var t = store.CheckoutStack("list"); all.Add(t); }
            Action Captured(Store<int> store) { var t = store.CheckoutStack("lambda"); return () => store.ReturnStack(t); }
            """));
    }

    [Fact]
    public async Task DisposingTheStoreReturnsItsTokens()
    {
        DiagnosticAssert.Empty(await Analyze("""
            void Explicit(PoolingAllocator allocator)
            {
                var store = new Store<int>(allocator, 1);
                var t = store.CheckoutStack("fiber");
                Work();
                store.Dispose();
            }
            void Using(PoolingAllocator allocator)
            {
                using var store = new Store<int>(allocator, 1);
                var t = store.CheckoutStack("fiber");
                Work();
            }
            """));
    }

    [Fact]
    public async Task ThrowPathsAreNotLeaks()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> store)
            {
                var t = store.CheckoutStack("fiber");
                if (Flag()) throw new InvalidOperationException("the Store's Dispose returns the stack");
                store.ReturnStack(t);
                return store.IntoData();
            }
            """));
    }

    [Fact]
    public async Task IntoDataOnAnotherStoreIsNotReported()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> a, Store<int> b)
            {
                var t = a.CheckoutStack("fiber");
                int data = b.IntoData();
                a.ReturnStack(t);
                return data;
            }
            """));
    }

    // ---- ALLOC100

    [Fact]
    public async Task Alloc100_IntoDataBeforeReturn()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M(Store<int> store)
            {
                StackToken token = store.CheckoutStack("fiber");
                int data = store.IntoData();
                store.ReturnStack(token);
                return data;
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()", "IntoData() is called on 'store' while stack token 'token' may still be checked out");
        Assert.Single(diagnostics);
    }

    [Fact]
    public async Task Alloc100_ReturnedOnOnlyOneBranch()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                if (Flag())
                {
                    store.ReturnStack(token);
                }
                return store.IntoData();
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()");
        DiagnosticAssert.Single(diagnostics, "ALLOC101", "store.CheckoutStack(\"fiber\")", "Stack token 'token' is not returned on every path");
    }

    [Fact]
    public async Task Alloc100_IntoDataInsideTryBeforeFinallyReturns()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                try
                {
                    if (Flag()) return store.IntoData();
                }
                finally
                {
                    store.ReturnStack(token);
                }
                return 0;
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()");
        Assert.Single(diagnostics);
    }

    [Fact]
    public async Task Alloc100_IntoDataInCatchWhileTryMayHoldToken()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                try
                {
                    Work();
                    store.ReturnStack(token);
                }
                catch (InvalidOperationException)
                {
                    return store.IntoData();
                }
                return store.IntoData();
            }
            """);
        Diagnostic intoData = DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()");
        SyntaxNode flagged = intoData.Location.SourceTree!.GetRoot().FindNode(intoData.Location.SourceSpan);
        Assert.Contains(flagged.Ancestors(), a => a is Microsoft.CodeAnalysis.CSharp.Syntax.CatchClauseSyntax);
        DiagnosticAssert.Single(diagnostics, "ALLOC101", "store.CheckoutStack(\"fiber\")");
    }

    [Fact]
    public async Task Alloc100_LoopThatSkipsTheReturn()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M(Store<int> store, int n)
            {
                for (int i = 0; i < n; i++)
                {
                    var token = store.CheckoutStack("fiber");
                    if (i % 2 == 0) continue;
                    store.ReturnStack(token);
                }
                return store.IntoData();
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()");
        DiagnosticAssert.Single(diagnostics, "ALLOC101", "store.CheckoutStack(\"fiber\")");
    }

    [Fact]
    public async Task Alloc100_StoreInAField()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int M()
            {
                var token = _store.CheckoutStack("fiber");
                int data = _store.IntoData();
                _store.ReturnStack(token);
                return data;
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "_store.IntoData()", "on '_store'");
    }

    // ---- ALLOC101

    [Fact]
    public async Task Alloc101_NeverReturned()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            nint M(Store<int> store)
            {
                var token = store.CheckoutStack("fiber");
                return store.GetStackBounds(token).Top;
            }
            """);
        DiagnosticAssert.Single(diagnostics, "ALLOC101", "store.CheckoutStack(\"fiber\")");
        Assert.Single(diagnostics);
    }

    [Fact]
    public async Task Alloc101_InsideLocalFunctionAndLambda()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            void M(Store<int> store)
            {
                Leak();
                Action ok = () =>
                {
                    var fine = store.CheckoutStack("lambda-ok");
                    store.ReturnStack(fine);
                };
                Action bad = () =>
                {
                    var lost = store.CheckoutStack("lambda-leak");
                    Work();
                };

                void Leak()
                {
                    var inner = store.CheckoutStack("local");
                    Work();
                }
            }
            """);
        Assert.Equal(2, diagnostics.Count(d => d.Id == "ALLOC101"));
        Assert.Contains(diagnostics, d => DiagnosticAssert.TextAt(d, null) == "store.CheckoutStack(\"local\")");
        Assert.Contains(diagnostics, d => DiagnosticAssert.TextAt(d, null) == "store.CheckoutStack(\"lambda-leak\")");
    }

    [Fact]
    public async Task Alloc101_ReportedInTopLevelStatements()
    {
        ImmutableArray<Diagnostic> diagnostics = await TestCompilation.AnalyzeAsync("""
            using Allocator;
            using var allocator = new PoolingAllocator(new PoolingAllocatorOptions());
            var store = new Store<int>(allocator, 0);
            var token = store.CheckoutStack("main");
            System.Console.WriteLine(store.IntoData());
            """, OutputKind.ConsoleApplication);
        DiagnosticAssert.Single(diagnostics, "ALLOC100", "store.IntoData()");
        DiagnosticAssert.Single(diagnostics, "ALLOC101", "store.CheckoutStack(\"main\")");
    }

    // ---- ALLOC102

    [Fact]
    public async Task Alloc102_DiscardedCheckout()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            void M(Store<int> store)
            {
                store.CheckoutStack("dropped");
                _ = store.CheckoutStack("discarded");
            }
            """);
        Assert.Equal(2, diagnostics.Count(d => d.Id == "ALLOC102"));
        Assert.Equal(new[] { "store.CheckoutStack(\"discarded\")", "store.CheckoutStack(\"dropped\")" },
            diagnostics.Select(d => DiagnosticAssert.TextAt(d, null)).Order());
    }
}
