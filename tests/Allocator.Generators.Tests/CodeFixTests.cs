using Allocator.Generators.Tests.Support;

namespace Allocator.Generators.Tests;

/// <summary>The ALLOC100 code fix: before/after for each holder kind, and the places where it must not offer a fix.</summary>
public class CodeFixTests
{
    private const string Header = """
        using System;
        using System.Collections.Generic;
        using System.Threading.Tasks;
        using Allocator;
        using Allocator.Fibers;

        """;

    private static string InClass(string members) => Header + $$"""
        public class C
        {
            private readonly nint entry = 1;
            private readonly FiberHostFunctions host = FiberHostFunctions.Empty;
            private static void Work() { }

        {{members}}
        }
        """;

    [Fact]
    public async Task Fiber_not_yet_run_gets_await_of_its_run()
    {
        await CodeFixVerifier.VerifyAsync(InClass("""
                async Task<int> M(Store<int> store)
                {
                    using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                    Work();
                    // consume the store
                    int data = {|ALLOC100:store.IntoData()|};
                    return data;
                }
            """), InClass("""
                async Task<int> M(Store<int> store)
                {
                    using Fiber fiber = Fiber.Create(store, "f", entry, 20, host);
                    Work();
                    // consume the store
                    await fiber.RunAsync();
                    int data = store.IntoData();
                    return data;
                }
            """), "ALLOC100:await-run:fiber");
    }

    [Fact]
    public async Task Fiber_gets_dispose()
    {
        await CodeFixVerifier.VerifyAsync(InClass("""
                int M(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    return {|ALLOC100:store.IntoData()|};
                }
            """), InClass("""
                int M(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    fiber.Dispose();
                    return store.IntoData();
                }
            """), "ALLOC100:dispose:fiber");
    }

    [Fact]
    public async Task Fiber_in_a_field_gets_dispose()
    {
        await CodeFixVerifier.VerifyAsync(InClass("""
                private Store<int> _store = null!;
                private Fiber? _fiber;

                int M()
                {
                    _fiber = Fiber.Create(_store, "f", entry, 20, host);
                    switch (_fiber.State)
                    {
                        case FiberState.Created:
                            return {|ALLOC100:_store.IntoData()|};
                        default:
                            return 0;
                    }
                }
            """), InClass("""
                private Store<int> _store = null!;
                private Fiber? _fiber;

                int M()
                {
                    _fiber = Fiber.Create(_store, "f", entry, 20, host);
                    switch (_fiber.State)
                    {
                        case FiberState.Created:
                            _fiber.Dispose();
                            return _store.IntoData();
                        default:
                            return 0;
                    }
                }
            """), "ALLOC100:dispose:_fiber");
    }

    [Fact]
    public async Task Started_run_gets_awaited()
    {
        await CodeFixVerifier.VerifyAsync(InClass("""
                async Task<int> M(Store<int> store)
                {
                    using var fiber = Fiber.Create(store, "f", entry, 20, host);
                    ValueTask<long> running = fiber.RunAsync();
                    if ({|ALLOC100:store.IntoData()|} > 0)
                    {
                        Work();
                    }
                    return (int)await running;
                }
            """), InClass("""
                async Task<int> M(Store<int> store)
                {
                    using var fiber = Fiber.Create(store, "f", entry, 20, host);
                    ValueTask<long> running = fiber.RunAsync();
                    await running;
                    if (store.IntoData() > 0)
                    {
                        Work();
                    }
                    return (int)await running;
                }
            """), "ALLOC100:await:running");
    }

    [Fact]
    public async Task Token_gets_returned_to_the_consumed_store()
    {
        await CodeFixVerifier.VerifyAsync(InClass("""
                private Store<int> _store = null!;

                int M()
                {
                    StackToken token = {|ALLOC101:_store.CheckoutStack("raw")|};
                    Work();
                    return {|ALLOC100:_store.IntoData()|};
                }
            """), InClass("""
                private Store<int> _store = null!;

                int M()
                {
                    StackToken token = _store.CheckoutStack("raw");
                    Work();
                    _store.ReturnStack(token);
                    return _store.IntoData();
                }
            """), "ALLOC100:return:token");
    }

    [Fact]
    public async Task Top_level_statements_get_a_statement_of_their_own()
    {
        await CodeFixVerifier.VerifyAsync(Header + """
            using var allocator = new PoolingAllocator(new PoolingAllocatorOptions());
            var store = new Store<int>(allocator, 1);
            var fiber = Fiber.Create(store, "main", 1, 20, FiberHostFunctions.Empty);
            Console.WriteLine({|ALLOC100:store.IntoData()|});
            """, Header + """
            using var allocator = new PoolingAllocator(new PoolingAllocatorOptions());
            var store = new Store<int>(allocator, 1);
            var fiber = Fiber.Create(store, "main", 1, 20, FiberHostFunctions.Empty);
            await fiber.RunAsync();
            Console.WriteLine(store.IntoData());
            """, "ALLOC100:await-run:fiber", Microsoft.CodeAnalysis.OutputKind.ConsoleApplication);
    }

    [Fact]
    public async Task Offers_both_fixes_for_an_unrun_fiber_in_an_async_method()
    {
        Assert.Equal(["ALLOC100:await-run:fiber", "ALLOC100:dispose:fiber"], await CodeFixVerifier.OfferedFixesAsync(InClass("""
                async Task<int> M(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    await Task.Yield();
                    return store.IntoData();
                }
            """)));
    }

    [Fact]
    public async Task No_await_outside_an_async_function_or_inside_a_lock()
    {
        Assert.Equal(["ALLOC100:dispose:fiber", "ALLOC100:dispose:fiber"], await CodeFixVerifier.OfferedFixesAsync(InClass("""
                private readonly object _gate = new();

                int NotAsync(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    return store.IntoData();
                }
                async Task<int> InLock(Store<int> store)
                {
                    await Task.Yield();
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    lock (_gate)
                    {
                        return store.IntoData();
                    }
                }
                int RunNotAsync(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    var running = fiber.RunAsync();
                    return store.IntoData();
                }
            """)));
    }

    [Fact]
    public async Task No_second_run_of_a_fiber_that_is_run_elsewhere()
    {
        // Awaited on one branch only: running it again before IntoData would throw on that path.
        Assert.Equal(["ALLOC100:dispose:fiber"], await CodeFixVerifier.OfferedFixesAsync(InClass("""
                async Task<int> M(Store<int> store, bool early)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    if (early)
                    {
                        await fiber.RunAsync();
                    }
                    return store.IntoData();
                }
            """)));
    }

    [Fact]
    public async Task No_fix_where_it_would_be_ambiguous()
    {
        Assert.Empty(await CodeFixVerifier.OfferedFixesAsync(InClass("""
                int OutOfScope(Store<int> store, List<int> items)
                {
                    foreach (int item in items)
                    {
                        var token = store.CheckoutStack("raw");
                        if (item == 0) continue;
                        store.ReturnStack(token);
                    }
                    return store.IntoData();
                }
                int NotInABlock(Store<int> store, bool flag)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    if (flag) return store.IntoData();
                    fiber.Dispose();
                    return 0;
                }
                int LoopCondition(Store<int> store)
                {
                    var fiber = Fiber.Create(store, "f", entry, 20, host);
                    while (store.IntoData() > 0)
                    {
                        Work();
                    }
                    return 0;
                }
            """)));
    }
}
