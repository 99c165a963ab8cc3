namespace Allocator.Sample.Aot;

/// <summary>What a Store holds for one request; handed back by <c>IntoData</c> when the request is done.</summary>
internal sealed class RequestState(int request)
{
    public int Request { get; } = request;

    public SlotToken Slot { get; set; }

    public long EmittedChecksum { get; set; } = -1;

    public int HostCalls { get; set; }
}
