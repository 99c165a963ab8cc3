using Allocator.Pooling;
using Allocator.Tests.Support;
using CsCheck;

namespace Allocator.Tests.Pools;

/// <summary>Random sequences of rent, return, double return and stale return checked against a simple model:
/// the pool must refuse exactly the misuses and hand out each slot to at most one holder.</summary>
public sealed class StackPoolModelTests
{
    private enum Op { Rent, ReturnLive, ReturnOld }

    [Fact]
    public void Pool_matches_the_model_under_random_operation_sequences()
    {
        Gen<(Op, int)[]> sequences = Gen.Select(Gen.Enum<Op>(), Gen.Int[0, 1000]).Array[1, 200];
        sequences.Sample(ops =>
        {
            using var pool = TestPools.Stacks(new StackPoolOptions { MaxStacks = 5, StackSize = 4096 * 4 });
            var live = new List<PooledStack>();
            var returned = new List<PooledStack>();
            foreach ((Op op, int pick) in ops)
            {
                switch (op)
                {
                    case Op.Rent:
                        PooledStack? rented = pool.TryRent();
                        Assert.Equal(live.Count < 5, rented.HasValue);
                        if (rented is { } s)
                        {
                            Assert.DoesNotContain(live, l => l.Index == s.Index);
                            live.Add(s);
                        }
                        break;
                    case Op.ReturnLive when live.Count > 0:
                        PooledStack victim = live[pick % live.Count];
                        pool.ReturnAccepted(victim);
                        live.Remove(victim);
                        returned.Add(victim);
                        break;
                    case Op.ReturnOld when returned.Count > 0:
                        PooledStack old = returned[pick % returned.Count];
                        InvalidTokenReason? refused = pool.Return(old);
                        bool slotReused = live.Any(l => l.Index == old.Index) || returned.Any(r => r.Index == old.Index && r.Generation > old.Generation);
                        Assert.Equal(slotReused ? InvalidTokenReason.Stale : InvalidTokenReason.AlreadyReturned, refused);
                        break;
                }
                Assert.Equal(live.Count, pool.InUse);
                Assert.All(live, l => Assert.True(pool.IsCheckedOut(l)));
            }
        }, iter: 200);
    }
}
