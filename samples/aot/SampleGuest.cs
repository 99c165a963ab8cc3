using Allocator.Fibers;

namespace Allocator.Sample.Aot;

/// <summary>The native guest (libSampleGuest.so on Linux), built by the AllocatorGuest items and shipped next to the executable.</summary>
internal static class SampleGuest
{
    public const int ReadInput = 0;
    public const int Emit = 1;

    private static readonly GuestLibrary s_library = GuestLibrary.Load("SampleGuest");

    /// <summary>Address of <c>sample_handle_request</c>.</summary>
    public static nint HandleRequest { get; } = s_library.GetExport("sample_handle_request");

    /// <summary>The entry's argument: request id in the high bits, number of inputs in the low 8.</summary>
    public static nint Argument(int request, int inputs) => ((nint)request << 8) | (nint)inputs;
}
