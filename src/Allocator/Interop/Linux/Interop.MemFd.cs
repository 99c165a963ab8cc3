using Allocator.Memory;
using Tmds.Linux;

namespace Allocator;

internal static partial class Interop
{
    internal static unsafe partial class Sys
    {
        /// <summary>A sealable anonymous file (memfd) of <paramref name="size"/> bytes that reads as zeros; -1 on
        /// failure, with the error in <paramref name="errno"/>. Close-on-exec, so a child process never inherits a
        /// tenant's initial memory.</summary>
        public static int CreateSealableFile(string name, ulong size, out int errno)
        {
            errno = 0;
            int fd;
            fixed (byte* utf8 = System.Text.Encoding.UTF8.GetBytes(name + "\0"))
            {
                fd = LibC.memfd_create(utf8, LibC.MFD_CLOEXEC | LibC.MFD_ALLOW_SEALING);
            }
            if (fd < 0)
            {
                errno = LibC.errno;
                return -1;
            }
            if (LibC.ftruncate(fd, (off_t)(long)size) != 0)
            {
                errno = LibC.errno;
                LibC.close(fd);
                return -1;
            }
            return fd;
        }

        /// <summary>Writes all of <paramref name="bytes"/> at <paramref name="offset"/> (pwrite may write less than
        /// asked: loop).</summary>
        public static bool WriteAt(int fd, ReadOnlySpan<byte> bytes, ulong offset)
        {
            fixed (byte* start = bytes)
            {
                int done = 0;
                while (done < bytes.Length)
                {
                    ssize_t written = LibC.pwrite(fd, start + done, (size_t)(ulong)(bytes.Length - done), (off_t)(long)(offset + (ulong)done));
                    // No EINTR retry: a write to a memfd (shmem) is interrupted only by a fatal signal.
                    if ((long)written < 0)
                    {
                        return false;
                    }
                    done += (int)(long)written;
                }
            }
            return true;
        }

        /// <summary>Seals the file against every change (writes, growth, shrinking, further seals): what was mapped
        /// from it can never change under a tenant.</summary>
        public static bool SealAll(int fd) =>
            LibC.fcntl(fd, LibC.F_ADD_SEALS, LibC.F_SEAL_WRITE | LibC.F_SEAL_GROW | LibC.F_SEAL_SHRINK | LibC.F_SEAL_SEAL) == 0;

        public static bool CloseFile(int fd) => LibC.close(fd) == 0;

        /// <summary>Maps [0, size) of the file copy-on-write over [address, address + size), replacing what was
        /// there: writes go to private pages, and MADV_DONTNEED later reverts them to the file.</summary>
        public static bool MapFileFixed(nint address, nuint size, int fd, MemoryProtection protection)
        {
            void* mapped = LibC.mmap((void*)address, (size_t)(ulong)size, ToProt(protection), LibC.MAP_PRIVATE | LibC.MAP_FIXED, fd, 0);
            return mapped != LibC.MAP_FAILED;
        }

        /// <summary>Replaces [address, address + size) with fresh anonymous memory (zeros, no commit charge until
        /// touched): whatever was mapped there before, file or anonymous, is gone in one call.</summary>
        public static bool MapAnonymousFixed(nint address, nuint size, MemoryProtection protection)
        {
            // Stryker disable once Unary : Linux ignores the descriptor of a MAP_ANONYMOUS mapping (-1 is for portability)
            void* mapped = LibC.mmap((void*)address, (size_t)(ulong)size, ToProt(protection),
                LibC.MAP_PRIVATE | LibC.MAP_ANONYMOUS | LibC.MAP_NORESERVE | LibC.MAP_FIXED, -1, 0);
            return mapped != LibC.MAP_FAILED;
        }
    }
}
