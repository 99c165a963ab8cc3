/* Context switch for x86-64 Windows (Win64 ABI), GNU assembler syntax with SEH unwind directives: builds with
 * mingw-w64 gcc or clang (--target=x86_64-pc-windows-msvc). See fiber_switch.h for the contract.
 * Run under Wine in .ci/run (the .NET fiber tests and tests/native/win64); not yet on real Windows: see README.md.
 *
 * Win64 callee-saved state is larger than System V's: rdi, rsi and xmm6-xmm15 too. The TEB's stack bounds must
 * follow the stack as well, or the OS's stack checks (__chkstk probes, SEH dispatch, guard page handling) would
 * judge the fiber's stack pointer out of bounds. The Windows Fibers API does this for its own stacks only; pooled
 * stacks need a switch of our own.
 *
 * A switch frame, from the saved stack pointer upwards (16-byte aligned, so xmm saves use movaps):
 *   +0   xmm6 ... +144 xmm15
 *   +160 MXCSR (4 bytes), x87 control word (2 bytes, padded)
 *   +168 TEB StackBase (gs:0x08)   +176 TEB StackLimit (gs:0x10)
 *   +184 TEB DeallocationStack (gs:0x1478)   +192 TEB GuaranteedStackBytes (gs:0x1748, 32 bits)
 *   +200 r15  +208 r14  +216 r13  +224 r12  +232 rsi  +240 rdi  +248 rbx  +256 rbp
 *   +264 return address
 * Every switch is entered by call and left by pop+jmp to the address the other side's call pushed.
 */
    .intel_syntax noprefix
    .text

/* The four TEB fields that describe the current stack (StackBase gs:0x08, StackLimit gs:0x10, DeallocationStack
 * gs:0x1478, GuaranteedStackBytes gs:0x1748, 32 bits), kept in four 8-byte slots from base + at. Every move between a
 * fiber stack and the thread's stack saves one side's and loads the other's; reg and reg32 name one scratch register
 * (64 and 32 bits). The 32-bit field is stored from the 64-bit register where a frame keeps it as a full slot. */
    .macro SAVE_TEB_STACK base, at, reg, reg32, last
    mov \reg, qword ptr gs:[0x08]
    mov [\base + \at], \reg
    mov \reg, qword ptr gs:[0x10]
    mov [\base + \at + 8], \reg
    mov \reg, qword ptr gs:[0x1478]
    mov [\base + \at + 16], \reg
    mov \reg32, dword ptr gs:[0x1748]
    mov [\base + \at + 24], \last
    .endm

    .macro LOAD_TEB_STACK base, at, reg, reg32
    mov \reg, [\base + \at]
    mov qword ptr gs:[0x08], \reg
    mov \reg, [\base + \at + 8]
    mov qword ptr gs:[0x10], \reg
    mov \reg, [\base + \at + 16]
    mov qword ptr gs:[0x1478], \reg
    mov \reg32, [\base + \at + 24]
    mov dword ptr gs:[0x1748], \reg32
    .endm

    .p2align 4
    .globl allocator_fiber_switch
    .def allocator_fiber_switch; .scl 2; .type 32; .endef
    /* The same code under its exported name, for fiber.h's inline fast paths (exported by the .drectve below). */
    .globl allocator_fiber_switch_context
    .def allocator_fiber_switch_context; .scl 2; .type 32; .endef
/* void allocator_fiber_switch(void** save_sp [rcx], void* load_sp [rdx]) */
allocator_fiber_switch:
allocator_fiber_switch_context:
    .seh_proc allocator_fiber_switch
    push rbp
    .seh_pushreg rbp
    push rbx
    .seh_pushreg rbx
    push rdi
    .seh_pushreg rdi
    push rsi
    .seh_pushreg rsi
    push r12
    .seh_pushreg r12
    push r13
    .seh_pushreg r13
    push r14
    .seh_pushreg r14
    push r15
    .seh_pushreg r15
    sub rsp, 200
    .seh_stackalloc 200
    movaps [rsp], xmm6
    .seh_savexmm xmm6, 0
    movaps [rsp + 16], xmm7
    .seh_savexmm xmm7, 16
    movaps [rsp + 32], xmm8
    .seh_savexmm xmm8, 32
    movaps [rsp + 48], xmm9
    .seh_savexmm xmm9, 48
    movaps [rsp + 64], xmm10
    .seh_savexmm xmm10, 64
    movaps [rsp + 80], xmm11
    .seh_savexmm xmm11, 80
    movaps [rsp + 96], xmm12
    .seh_savexmm xmm12, 96
    movaps [rsp + 112], xmm13
    .seh_savexmm xmm13, 112
    movaps [rsp + 128], xmm14
    .seh_savexmm xmm14, 128
    movaps [rsp + 144], xmm15
    .seh_savexmm xmm15, 144
    .seh_endprologue
    stmxcsr [rsp + 160]
    fnstcw [rsp + 164]
    SAVE_TEB_STACK rsp, 168, rax, eax, rax
    mov [rcx], rsp
    /* The other side's frame has the same shape, so the unwind info above stays true after the stack changes. */
    mov rsp, rdx
    LOAD_TEB_STACK rsp, 168, rax, eax
    ldmxcsr [rsp + 160]
    fldcw [rsp + 164]
    movaps xmm6, [rsp]
    movaps xmm7, [rsp + 16]
    movaps xmm8, [rsp + 32]
    movaps xmm9, [rsp + 48]
    movaps xmm10, [rsp + 64]
    movaps xmm11, [rsp + 80]
    movaps xmm12, [rsp + 96]
    movaps xmm13, [rsp + 112]
    movaps xmm14, [rsp + 128]
    movaps xmm15, [rsp + 144]
    add rsp, 200
    pop r15
    pop r14
    pop r13
    pop r12
    pop rsi
    pop rdi
    pop rbx
    pop rbp
    /* Leave by pop+jmp, not ret, as the System V switch and Boost's jump_fcontext for Win64 do: a ret returns to the
     * other side's call site, which the return stack buffer never predicts. Measured under Wine (native code, real
     * CPU), 2,000,000 round trips, best of 7, three runs side by side: inline paths 34-51 ns with ret, 12-19 ns with
     * pop+jmp; exported functions 67-80 ns against 44-62 ns. r11 is volatile and no argument. The cost: in the two
     * instructions after pop r11 the unwind info no longer describes the frame (Windows recognizes a jmp through a
     * register as no epilogue), so a debugger or sampling profiler stopping exactly there gets a wrong stack; no
     * exception can be raised there, and the runtime never unwinds a thread that is inside a P/Invoke. */
    pop r11
    jmp r11
    .seh_endproc

    .p2align 4
    .globl allocator_fiber_prepare
    .def allocator_fiber_prepare; .scl 2; .type 32; .endef
/* void* allocator_fiber_prepare(allocator_fiber_ctx* ctx [rcx], allocator_fiber_entry entry [rdx], intptr_t arg [r8])
 * Writes the first switch frame so that the first switch returns into the trampoline with rsp = ctx - 16 (aligned),
 * rbx = ctx, r12 = entry, r13 = arg, Windows' default MXCSR and x87 control word, and the TEB describing the fiber
 * stack. The two zero words at ctx - 16 and ctx - 8 end stack walks: the trampoline's return address reads as 0. */
allocator_fiber_prepare:
    .seh_proc allocator_fiber_prepare
    .seh_endprologue
    lea rax, [rcx - 288]                    /* initial stack pointer: ctx - 16 - 272 */
    mov qword ptr [rcx - 8], 0
    mov qword ptr [rcx - 16], 0
    xorps xmm0, xmm0                        /* xmm0-5 are volatile here, free to use as zero */
    movaps [rax], xmm0
    movaps [rax + 16], xmm0
    movaps [rax + 32], xmm0
    movaps [rax + 48], xmm0
    movaps [rax + 64], xmm0
    movaps [rax + 80], xmm0
    movaps [rax + 96], xmm0
    movaps [rax + 112], xmm0
    movaps [rax + 128], xmm0
    movaps [rax + 144], xmm0
    mov dword ptr [rax + 160], 0x1F80       /* MXCSR: all exceptions masked, round to nearest */
    mov dword ptr [rax + 164], 0x027F       /* x87 CW: Windows' default, 53-bit precision, round to nearest */
    mov r9, [rcx + 24]                      /* ctx->stack_base */
    mov [rax + 168], r9                     /* TEB StackBase */
    mov r9, [rcx + 16]                      /* ctx->stack_limit */
    mov [rax + 176], r9                     /* TEB StackLimit: the whole stack is committed */
    mov [rax + 184], r9                     /* TEB DeallocationStack */
    mov qword ptr [rax + 192], 0            /* TEB GuaranteedStackBytes */
    mov qword ptr [rax + 200], 0            /* r15 */
    mov qword ptr [rax + 208], 0            /* r14 */
    mov [rax + 216], r8                     /* r13 = arg */
    mov [rax + 224], rdx                    /* r12 = entry */
    mov qword ptr [rax + 232], 0            /* rsi */
    mov qword ptr [rax + 240], 0            /* rdi */
    mov [rax + 248], rcx                    /* rbx = ctx */
    mov qword ptr [rax + 256], 0            /* rbp */
    lea r9, [rip + allocator_fiber_trampoline]
    mov [rax + 264], r9                     /* return address of the first switch */
    ret
    .seh_endproc

/* intptr_t allocator_fiber_call_on_parent_stack(ctx [rcx], fn_index [edx], args [r8], nargs [r9d], status [rsp+40])
 * Moves to the driver's stack 256 bytes below its suspended switch frame (ctx->parent_sp), with the TEB's stack
 * fields set to the thread's own (saved in that switch frame), calls allocator_fiber_sync_dispatch with the same
 * arguments, then restores the fiber's TEB fields and stack. The managed callee thus runs on the thread's stack with
 * the bounds the runtime expects. rbp holds the fiber-side frame meanwhile: the unwind info describes the frame
 * through it (UWOP_SET_FPREG), so unwinders walk from the callee back onto the fiber stack. */
    .p2align 4
    .globl allocator_fiber_call_on_parent_stack
    .def allocator_fiber_call_on_parent_stack; .scl 2; .type 32; .endef
allocator_fiber_call_on_parent_stack:
    .seh_proc allocator_fiber_call_on_parent_stack
    push rbp
    .seh_pushreg rbp
    push rbx
    .seh_pushreg rbx
    sub rsp, 40                             /* [rsp, rsp+32): the fiber's TEB stack fields */
    .seh_stackalloc 40
    mov rbp, rsp
    .seh_setframe rbp, 0
    .seh_endprologue
    SAVE_TEB_STACK rbp, 0, rax, eax, eax
    mov rbx, [rcx + 8]                      /* ctx->parent_sp: the driver's switch frame */
    LOAD_TEB_STACK rbx, 168, rax, eax
    mov r10, [rbp + 96]                     /* status: the caller's fifth argument (40 + 16 + 40 bytes up) */
    lea rax, [rbx - 256]
    and rax, -16
    mov rsp, rax
    sub rsp, 48                             /* home area and fifth argument; stays 16-byte aligned */
    mov [rsp + 32], r10
    call allocator_fiber_sync_dispatch
    mov rsp, rbp
    LOAD_TEB_STACK rbp, 0, rcx, ecx
    add rsp, 40
    pop rbx
    pop rbp
    ret
    .seh_endproc

/* int32_t allocator_fiber_host_call_unchecked(ctx [rcx], fn_index [edx], args [r8], nargs [r9d], result [rsp+40],
 *                                             function [rsp+48])
 * The call {args, fn_index, nargs} at [rbp+32], on the fiber stack; then the same move as
 * allocator_fiber_call_on_parent_stack (TEB stack fields included), calling function(&call), and the value stored in
 * *result. */
    .p2align 4
    .globl allocator_fiber_host_call_unchecked
    .def allocator_fiber_host_call_unchecked; .scl 2; .type 32; .endef
allocator_fiber_host_call_unchecked:
    .seh_proc allocator_fiber_host_call_unchecked
    push rbp
    .seh_pushreg rbp
    push rbx
    .seh_pushreg rbx
    sub rsp, 56                             /* [rsp, rsp+32): the fiber's TEB stack fields; [rsp+32, +48): call */
    .seh_stackalloc 56
    mov rbp, rsp
    .seh_setframe rbp, 0
    .seh_endprologue
    SAVE_TEB_STACK rbp, 0, rax, eax, eax
    mov [rbp + 32], r8                      /* call.args */
    mov [rbp + 40], edx                     /* call.function */
    mov [rbp + 44], r9d                     /* call.arg_count */
    mov rbx, [rcx + 8]                      /* ctx->parent_sp: the driver's switch frame */
    LOAD_TEB_STACK rbx, 168, rax, eax
    lea rax, [rbx - 256]
    and rax, -16
    mov rsp, rax
    sub rsp, 32                             /* home area; stays 16-byte aligned */
    lea rcx, [rbp + 32]
    call qword ptr [rbp + 120]              /* function: the caller's sixth argument (56 + 16 + 48 bytes up) */
    mov rsp, rbp
    LOAD_TEB_STACK rbp, 0, rcx, ecx
    mov rcx, [rbp + 112]                    /* result: the caller's fifth argument */
    test rcx, rcx
    jz 1f
    mov [rcx], rax
1:  xor eax, eax                            /* ALLOCATOR_FIBER_HOST_OK */
    add rsp, 56
    pop rbx
    pop rbp
    ret
    .seh_endproc

/* Bottom frame of every fiber: calls entry(ctx, arg) with the 32-byte home area Win64 requires, then exits the
 * fiber. Its unwind info says "32 bytes allocated", so a walk from guest frames finds return address 0 above it
 * and stops on the fiber stack (Windows unwind codes cannot express a jump to the driver's stack). */
    .p2align 4
    .def allocator_fiber_trampoline; .scl 3; .type 32; .endef
allocator_fiber_trampoline:
    .seh_proc allocator_fiber_trampoline
    sub rsp, 32
    .seh_stackalloc 32
    .seh_endprologue
    mov rcx, rbx
    mov rdx, r13
    call r12
    mov rcx, rbx
    mov rdx, rax
    call allocator_fiber_exit
    ud2
    .seh_endproc

    /* What __declspec(dllexport) emits for a C function: a linker directive that exports the symbol from the DLL. */
    .section .drectve
    .ascii " -export:allocator_fiber_switch_context"
