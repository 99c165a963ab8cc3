using System.Collections.Immutable;
using Allocator.Generators.Tests.Support;
using Microsoft.CodeAnalysis;

namespace Allocator.Generators.Tests;

/// <summary>ALLOC100 for fibers and runs: IntoData while a Fiber of that Store may still hold its stack, or while a
/// started <c>RunAsync</c> may not have finished. Each followed pattern warns; each correct shape stays silent.</summary>
public class FiberAnalyzerTests
{
    private static Task<ImmutableArray<Diagnostic>> Analyze(string members) => TestCompilation.AnalyzeAsync($$"""
        using System;
        using System.Collections.Generic;
        using System.Threading.Tasks;
        using Allocator;
        using Allocator.Fibers;

        public class C
        {
            private Store<int> _store = null!;
            private Fiber? _fiber;
            private readonly nint entry = 1;
            private readonly FiberHostFunctions host = FiberHostFunctions.Empty;
            private static void Work() { }
            private static bool Flag() => DateTime.Now.Ticks % 2 == 0;
            private static void Keep(Fiber fiber) { }
            private void StopFiber() => _fiber?.Dispose();

        {{members}}
        }
        """);

    private static Diagnostic SingleAlloc100(ImmutableArray<Diagnostic> diagnostics, string locatedText, string messageContains)
    {
        Diagnostic diagnostic = DiagnosticAssert.Single(diagnostics, "ALLOC100", locatedText, messageContains);
        Assert.Single(diagnostics);
        return diagnostic;
    }

    // ---- The two patterns the analyzer used to miss.

    [Fact]
    public async Task Fiber_created_and_IntoData_before_it_runs()
    {
        Diagnostic diagnostic = SingleAlloc100(await Analyze("""
            async Task<int> M(PoolingAllocator allocator)
            {
                var store = new Store<int>(allocator, 1);
                Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                int data = store.IntoData();
                await fiber.RunAsync();
                return data;
            }
            """), "store.IntoData()", "IntoData() is called on 'store' while fiber 'fiber' may still hold its stack on some path; await fiber.RunAsync() or call fiber.Dispose() first");
        Assert.Equal("Fiber", diagnostic.Properties["Kind"]);
        Assert.Equal("fiber", diagnostic.Properties["Holder"]);
    }

    [Fact]
    public async Task Run_started_and_not_awaited_is_reported_once_as_the_run()
    {
        Diagnostic diagnostic = SingleAlloc100(await Analyze("""
            async Task<int> M(Store<int> store)
            {
                using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                ValueTask<long> running = fiber.RunAsync();
                int data = store.IntoData();
                await running;
                return data;
            }
            """), "store.IntoData()", "while the run 'running' of fiber 'fiber' may not have finished on some path; await running first");
        Assert.Equal("Run", diagnostic.Properties["Kind"]);
    }

    // ---- More shapes that hold a stack.

    [Fact]
    public async Task Using_declaration_disposes_only_at_the_end_of_the_scope()
    {
        SingleAlloc100(await Analyze("""
            int M(Store<int> store)
            {
                using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                Work();
                return store.IntoData();
            }
            """), "store.IntoData()", "fiber 'fiber'");
    }

    [Fact]
    public async Task Using_statement_body_is_still_inside_the_scope()
    {
        SingleAlloc100(await Analyze("""
            int M(Store<int> store)
            {
                using (var fiber = Fiber.Create(store, "f", entry, 20, host))
                {
                    return store.IntoData();
                }
            }
            """), "store.IntoData()", "fiber 'fiber'");
    }

    [Fact]
    public async Task Field_of_this()
    {
        SingleAlloc100(await Analyze("""
            int M()
            {
                _fiber = Fiber.Create(_store, "f", entry, 20, host);
                return _store.IntoData();
            }
            """), "_store.IntoData()", "IntoData() is called on '_store' while fiber '_fiber' may still hold its stack");
    }

    [Fact]
    public async Task Alias_of_the_store_either_way()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int CreatedOnAlias(Store<int> store)
            {
                var alias = store;
                using var fiber = Fiber.Create(alias, "f", entry, 20, host);
                return store.IntoData();
            }
            int ConsumedThroughAlias(Store<int> store)
            {
                Store<int> alias = store;
                var again = alias;
                using var fiber = Fiber.Create(store, "f", entry, 20, host);
                return again.IntoData();
            }
            """);
        Assert.Equal(2, diagnostics.Length);
        Assert.Contains(diagnostics, d => d.Id == "ALLOC100" && DiagnosticAssert.TextAt(d, null) == "store.IntoData()");
        Assert.Contains(diagnostics, d => d.Id == "ALLOC100" && DiagnosticAssert.TextAt(d, null) == "again.IntoData()");
    }

    [Fact]
    public async Task Store_and_fiber_as_parameters()
    {
        // A Store parameter is followed like a local; a Fiber (out) parameter given a new fiber here is too.
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            int StoreParameter(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                int data = store.IntoData();
                fiber.Dispose();
                return data;
            }
            int FiberParameter(Store<int> store, out Fiber fiber)
            {
                fiber = Fiber.Create(store, "f", entry, 20, host);
                return store.IntoData();
            }
            """);
        Assert.Equal(2, diagnostics.Length);
        Assert.All(diagnostics, d =>
        {
            Assert.Equal("ALLOC100", d.Id);
            Assert.Equal("store.IntoData()", DiagnosticAssert.TextAt(d, null));
            Assert.Contains("fiber 'fiber' may still hold its stack", d.GetMessage(), StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Loop_that_skips_the_await()
    {
        SingleAlloc100(await Analyze("""
            async Task<int> M(Store<int> store, List<int> items)
            {
                foreach (int item in items)
                {
                    var fiber = Fiber.Create(store, "f", entry, item, host);
                    if (item == 0) continue;
                    await fiber.RunAsync();
                }
                return store.IntoData();
            }
            """), "store.IntoData()", "fiber 'fiber'");
    }

    [Fact]
    public async Task IntoData_inside_try_before_the_finally_disposes()
    {
        SingleAlloc100(await Analyze("""
            int M(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                try
                {
                    return store.IntoData();
                }
                finally
                {
                    fiber.Dispose();
                }
            }
            """), "store.IntoData()", "fiber 'fiber'");
    }

    [Fact]
    public async Task Inside_a_lambda_and_a_local_function()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            void M(Store<int> store)
            {
                Func<Task<int>> lambda = async () =>
                {
                    var fiber = Fiber.Create(store, "lambda", entry, 20, host);
                    var running = fiber.RunAsync();
                    int data = store.IntoData();
                    await running;
                    return data;
                };
                int Local()
                {
                    var fiber = Fiber.Create(store, "local", entry, 20, host);
                    return store.IntoData();
                }
            }
            """);
        Assert.Equal(2, diagnostics.Count(d => d.Id == "ALLOC100"));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("the run 'running'", StringComparison.Ordinal));
        Assert.Contains(diagnostics, d => d.GetMessage().Contains("fiber 'fiber' may still hold", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Run_dropped_without_await_still_holds_the_stack()
    {
        SingleAlloc100(await Analyze("""
            int M(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                _ = fiber.RunAsync();
                if (fiber.State == FiberState.Suspended) Work();
                return store.IntoData();
            }
            """), "store.IntoData()", "fiber 'fiber'");
    }

    [Fact]
    public async Task Run_of_an_unnamed_fiber_and_run_as_task()
    {
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            async Task<int> Unnamed(Store<int> store)
            {
                var running = Fiber.Create(store, "f", entry, 20, host).RunAsync();
                int data = store.IntoData();
                await running;
                return data;
            }
            async Task<int> AsTask(Store<int> store)
            {
                using var fiber = Fiber.Create(store, "f", entry, 20, host);
                Task<long> running = fiber.RunAsync().AsTask();
                if (!running.IsCompleted) Work();
                int data = store.IntoData();
                await running;
                return data;
            }
            """);
        Assert.Equal(2, diagnostics.Count(d => d.Id == "ALLOC100" && d.GetMessage().Contains("the run 'running'", StringComparison.Ordinal)));
        Assert.Equal(2, diagnostics.Length);
    }

    [Fact]
    public async Task Awaited_on_one_branch_only()
    {
        SingleAlloc100(await Analyze("""
            async Task<int> M(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                var running = fiber.RunAsync();
                if (Flag())
                {
                    await running;
                }
                return store.IntoData();
            }
            """), "store.IntoData()", "the run 'running'");
    }

    [Fact]
    public async Task Scoped_run_started_and_not_awaited()
    {
        SingleAlloc100(await Analyze("""
            async Task<int> M(Store<int> store)
            {
                var running = store.RunFiberAsync("f", entry, 20, host);
                int data = store.IntoData();
                await running;
                return data;
            }
            """), "store.IntoData()", "while the run 'running' may not have finished on some path; await running first");
    }

    // ---- Correct shapes: no diagnostic.

    [Fact]
    public async Task Scoped_run_awaited_is_clean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            async Task<int> M(Store<int> store)
            {
                long result = await store.RunFiberAsync("f", entry, 20, host);
                var running = store.RunFiberAsync("g", entry, 20, host).AsTask();
                await running;
                return store.IntoData() + (int)result;
            }
            """));
    }

    [Fact]
    public async Task Awaited_runs_are_clean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            async Task<int> Direct(Store<int> store)
            {
                using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                long result = await fiber.RunAsync();
                return store.IntoData() + (int)result;
            }
            async Task<int> ThroughLocal(Store<int> store)
            {
                using var fiber = Fiber.Create(store, "f", entry, 20, host);
                var running = fiber.RunAsync();
                Work();
                await running.ConfigureAwait(false);
                return store.IntoData();
            }
            async Task<int> ConfigureAwaitDirect(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                await fiber.RunAsync().ConfigureAwait(false);
                return store.IntoData();
            }
            async Task<int> InLoop(Store<int> store, List<int> items)
            {
                foreach (int item in items)
                {
                    using var fiber = Fiber.Create(store, "f", entry, item, host);
                    await fiber.RunAsync();
                }
                return store.IntoData();
            }
            async Task<int> TryFinally(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                try
                {
                    await fiber.RunAsync();
                }
                finally
                {
                    fiber.Dispose();
                }
                return store.IntoData();
            }
            """));
    }

    [Fact]
    public async Task A_run_that_throws_has_given_the_stack_back_in_the_catch()
    {
        // Regression: the catch used to start from the try's entry state (fiber held), a false positive on the
        // common "await the run, catch its trap" shape. Only what may throw before the run keeps it held.
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            async Task<int> Clean(Store<int> store)
            {
                using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                try
                {
                    await fiber.RunAsync();
                }
                catch (FiberTrapException)
                {
                    Work();
                }
                return store.IntoData();
            }
            async Task<int> WorkMayThrowFirst(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                try
                {
                    Work();
                    await fiber.RunAsync();
                }
                catch (InvalidOperationException)
                {
                    return store.IntoData();
                }
                return store.IntoData();
            }
            """);
        Diagnostic reported = SingleAlloc100(diagnostics, "store.IntoData()", "fiber 'fiber'");
        SyntaxNode flagged = reported.Location.SourceTree!.GetRoot().FindNode(reported.Location.SourceSpan);
        Assert.Contains(flagged.Ancestors(), a => a is Microsoft.CodeAnalysis.CSharp.Syntax.CatchClauseSyntax);
    }

    [Fact]
    public async Task Disposed_or_cancelled_fibers_are_clean()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int Disposed(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                fiber.Dispose();
                return store.IntoData();
            }
            int Cancelled(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                var running = fiber.RunAsync();
                fiber.Cancel();
                return store.IntoData();
            }
            int UsingStatementEnded(Store<int> store)
            {
                using (var fiber = Fiber.Create(store, "f", entry, 20, host))
                {
                    Work();
                }
                return store.IntoData();
            }
            int NullConditional(Store<int> store)
            {
                Fiber? fiber = Flag() ? null : Fiber.Create(store, "f", entry, 20, host);
                fiber?.Dispose();
                return store.IntoData();
            }
            void StoreDisposed(PoolingAllocator allocator)
            {
                using var store = new Store<int>(allocator, 1);
                var fiber = Fiber.Create(store, "f", entry, 20, host);
            }
            int OtherStore(Store<int> a, Store<int> b)
            {
                using var fiber = Fiber.Create(a, "f", entry, 20, host);
                return b.IntoData();
            }
            """));
    }

    [Fact]
    public async Task Escaped_fibers_and_runs_are_not_reported()
    {
        DiagnosticAssert.Empty(await Analyze("""
            int Passed(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                Keep(fiber);
                return store.IntoData();
            }
            int Stored(Store<int> store, List<Fiber> all)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                all.Add(fiber);
                return store.IntoData();
            }
            Fiber Returned(Store<int> store) => Fiber.Create(store, "f", entry, 20, host);
            async Task<int> RunHandedOn(Store<int> store)
            {
                using var fiber = Fiber.Create(store, "f", entry, 20, host);
                var running = fiber.RunAsync();
                await Task.WhenAll(running.AsTask());
                return store.IntoData();
            }
            int Captured(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                Action stop = () => fiber.Dispose();
                stop();
                return store.IntoData();
            }
            int FieldReleasedByAnotherMethod()
            {
                _fiber = Fiber.Create(_store, "f", entry, 20, host);
                StopFiber();
                return _store.IntoData();
            }
            int FiberParameterOfUnknownStore(Store<int> store, Fiber fiber)
            {
                var running = fiber.RunAsync();
                return store.IntoData();
            }
            void IntoDataInsideALambda(Store<int> store)
            {
                var fiber = Fiber.Create(store, "f", entry, 20, host);
                Func<int> consume = () => store.IntoData();
                fiber.Dispose();
            }
            """));
    }

    [Fact]
    public async Task Blind_spots_documented_in_generators_md()
    {
        // Not seen: holders shared across methods. Seen though safe: a condition that mirrors another (the analysis
        // is path-insensitive). docs/generators.md lists both; this pins them down.
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            void Start() => _fiber = Fiber.Create(_store, "f", entry, 20, host);
            int End() => _store.IntoData();
            int Mirrored(Store<int> store, bool c)
            {
                Fiber? f = null;
                if (c) f = Fiber.Create(store, "f", entry, 20, host);
                if (c) f!.Dispose();
                return store.IntoData();
            }
            """);
        SingleAlloc100(diagnostics, "store.IntoData()", "fiber 'f' may still hold its stack");
    }

    [Fact]
    public async Task Reassigned_store_local_is_not_an_alias()
    {
        // Assigned twice: which store it holds depends on the path, so it is not matched with either.
        DiagnosticAssert.Empty(await Analyze("""
            int M(Store<int> a, Store<int> b)
            {
                Store<int> s = a;
                if (Flag()) s = b;
                using var fiber = Fiber.Create(a, "f", entry, 20, host);
                return s.IntoData();
            }
            """));
    }

    [Fact]
    public async Task The_sample_request_loop_is_clean()
    {
        // samples/aot/Program.cs: a fiber per request in an async lambda, awaited, then IntoData; Dispose in finally.
        DiagnosticAssert.Empty(await TestCompilation.AnalyzeAsync("""
            using System.Threading;
            using System.Threading.Tasks;
            using System.Linq;
            using Allocator;
            using Allocator.Fibers;

            using var allocator = new PoolingAllocator(new PoolingAllocatorOptions());
            int next = 0, failures = 0, requests = 10;
            await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
            {
                int request;
                while ((request = Interlocked.Increment(ref next)) <= requests)
                {
                    var store = new Store<int>(allocator, request);
                    try
                    {
                        store.Data = store.CheckoutInstance(affinityKey: "m").GetHashCode();
                        var host = new object();
                        using Fiber fiber = Fiber.Create(store, $"request {request}", 1, request, FiberHostFunctions.Empty);
                        long result = await fiber.RunAsync();
                        int done = store.IntoData();
                        if (result != done || done != 3)
                        {
                            Interlocked.Increment(ref failures);
                        }
                        Interlocked.Add(ref failures, (int)result);
                    }
                    finally
                    {
                        store.Dispose();
                    }
                }
            }))).ConfigureAwait(false);
            """, OutputKind.ConsoleApplication));
    }

    [Fact]
    public async Task Lambda_declared_inside_a_try_is_analysed_with_its_own_handlers()
    {
        // Regression: a lambda's root region is enclosed by the outer graph's try, whose finally block ordinals
        // belong to the outer graph; following them indexed past the lambda's blocks (AD0001 on samples/aot).
        ImmutableArray<Diagnostic> diagnostics = await Analyze("""
            void M(Store<int> store, List<int> items)
            {
                try
                {
                    Work();
                    foreach (int item in items) Work();
                    Func<Task<int>> run = async () =>
                    {
                        using var fiber = Fiber.Create(store, "f", entry, 20, host);
                        var token = store.CheckoutStack("raw");
                        store.ReturnStack(token);
                        await fiber.RunAsync();
                        return store.IntoData();
                    };
                }
                finally
                {
                    Work();
                    foreach (int item in items) Work();
                }
            }
            """);
        DiagnosticAssert.Empty(diagnostics);
    }
}
