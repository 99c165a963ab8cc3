namespace Allocator.Fibers;

/// <summary>What a fiber does when its epoch deadline has passed, as decided by a
/// <see cref="FiberEpochDeadlineCallback"/> (Wasmtime's <c>UpdateDeadline</c>).</summary>
public readonly struct FiberDeadlineUpdate : IEquatable<FiberDeadlineUpdate>
{
    private FiberDeadlineUpdate(FiberDeadlineAction action, ulong ticks)
    {
        Action = action;
        Ticks = ticks;
    }

    /// <summary>Stop the guest: it is told to unwind, and <see cref="Fiber.RunAsync"/> throws
    /// <see cref="FiberInterruptedException"/>. The default when no callback is set.</summary>
    public static FiberDeadlineUpdate Interrupt => new(FiberDeadlineAction.Interrupt, 0);

    /// <summary>What to do.</summary>
    public FiberDeadlineAction Action { get; }

    /// <summary>For <see cref="FiberDeadlineAction.Continue"/> and <see cref="FiberDeadlineAction.Yield"/>: the new
    /// deadline, in ticks beyond the epoch current when the callback returns.</summary>
    public ulong Ticks { get; }

    /// <summary>Go on at once with the deadline <paramref name="ticks"/> beyond the current epoch.</summary>
    public static FiberDeadlineUpdate Continue(ulong ticks) => new(FiberDeadlineAction.Continue, ticks);

    /// <summary>Let other work run first (the driver yields asynchronously, like <see cref="Task.Yield"/>), then go
    /// on with the deadline <paramref name="ticks"/> beyond the current epoch.</summary>
    public static FiberDeadlineUpdate Yield(ulong ticks) => new(FiberDeadlineAction.Yield, ticks);

    /// <inheritdoc/>
    public bool Equals(FiberDeadlineUpdate other) => Action == other.Action && Ticks == other.Ticks;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is FiberDeadlineUpdate other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Action, Ticks);

    /// <summary>Equal when action and ticks are.</summary>
    public static bool operator ==(FiberDeadlineUpdate left, FiberDeadlineUpdate right) => left.Equals(right);

    /// <summary>Different when action or ticks are.</summary>
    public static bool operator !=(FiberDeadlineUpdate left, FiberDeadlineUpdate right) => !left.Equals(right);
}
