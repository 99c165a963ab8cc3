namespace Allocator;

/// <summary>An operating-system virtual memory call failed.</summary>
/// <remarks>Carries the OS error code (errno on Linux, GetLastError on Windows) and the size asked for,
/// so an out-of-address-space reservation can be told apart from a bad argument.</remarks>
public sealed class VirtualMemoryException : Exception
{
    /// <summary>Creates the exception for a failed <paramref name="operation"/>.</summary>
    public VirtualMemoryException(string operation, int errorCode, nuint requestedBytes)
        : base($"{operation} of {requestedBytes} bytes failed with OS error {errorCode} ({Describe(errorCode)}).")
    {
        Operation = operation;
        ErrorCode = errorCode;
        RequestedBytes = requestedBytes;
    }

    /// <summary>The OS call that failed, e.g. <c>mmap</c> or <c>VirtualAlloc(MEM_COMMIT)</c>.</summary>
    public string Operation { get; }

    /// <summary>errno on Linux, GetLastError on Windows.</summary>
    public int ErrorCode { get; }

    /// <summary>The number of bytes the failing call was asked to cover.</summary>
    public nuint RequestedBytes { get; }

    // Marshal's message works for errno values on Unix and Win32 codes on Windows alike, and never throws: an
    // unknown code reads "Unknown error N".
    private static string Describe(int errorCode) => System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errorCode);
}
