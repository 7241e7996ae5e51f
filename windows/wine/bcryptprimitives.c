/*
 * bcryptprimitives.dll for Wine before 9.0, which lacks it: Rust's std (1.78 and later) draws
 * its random bytes from ProcessPrng there, so without this DLL every Rust program fails to
 * start under Debian 12's Wine 8 (status c0000135). Only the test suite uses it
 * (tests/common/wine.rs builds it with MinGW and copies it into a throw-away Wine prefix); it
 * is never shipped. ProcessPrng is implemented with advapi32's RtlGenRandom
 * (SystemFunction036), which Wine has.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
