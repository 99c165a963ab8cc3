using System.Runtime.InteropServices;

namespace Allocator.Tests.Support;

/// <summary>Tells whether a byte is readable without touching it from user code: the kernel copies it into a pipe
/// and answers EFAULT for an inaccessible page, where a plain read would kill the test process.</summary>
internal static partial class MemoryProbe
{
    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int pipe(int* fds);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, nint buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, nint buffer, nuint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);

    public static unsafe bool IsReadable(nint address)
    {
        int* fds = stackalloc int[2];
        Assert.Equal(0, pipe(fds));
        try
        {
            nint written = write(fds[1], address, 1);
            if (written == 1)
            {
                byte sink;
                read(fds[0], (nint)(&sink), 1);
                return true;
            }
            const int EFAULT = 14;
            Assert.Equal(EFAULT, Marshal.GetLastPInvokeError());
            return false;
        }
        finally
        {
            close(fds[0]);
            close(fds[1]);
        }
    }
}
