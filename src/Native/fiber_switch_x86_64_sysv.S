/* Context switch for x86-64 System V (Linux). See fiber_switch.h for the contract.
 *
 * A switch frame, from the saved stack pointer upwards:
 *   +0  MXCSR (4 bytes) and x87 control word (2 bytes, padded)
 *   +8  r15   +16 r14   +24 r13   +32 r12   +40 rbx   +48 rbp
 *   +56 return address (pushed by the call into allocator_fiber_switch)
 * Everything else is caller-saved in this ABI, so the compiler already spilled it before the call.
 * Every switch is entered by call and left by pop+jmp to the address the other side's call pushed.
 */
    .intel_syntax noprefix
    .text

    .p2align 4
    .globl allocator_fiber_switch
    .hidden allocator_fiber_switch
    .type allocator_fiber_switch, @function
    /* The same code under its exported name, for fiber.h's inline fast paths; fiber.c calls the hidden name, which
     * the linker binds directly (no PLT). */
    .globl allocator_fiber_switch_context
    .type allocator_fiber_switch_context, @function
/* void allocator_fiber_switch(void** save_sp [rdi], void* load_sp [rsi]) */
allocator_fiber_switch:
allocator_fiber_switch_context:
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    push rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    push r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    push r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    push r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r14, 0
    push r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r15, 0
    sub rsp, 8
    .cfi_adjust_cfa_offset 8
    stmxcsr [rsp]
    fnstcw [rsp + 4]
    mov [rdi], rsp
    /* The other side's frame has the same shape, so the CFI below stays true after the stack changes. */
    mov rsp, rsi
    /* Load MXCSR and the x87 control word unconditionally, as Boost's jump_fcontext does. Loading them only when
     * they differ from the live ones needs stmxcsr/fnstcw to memory and a load of the same bytes back, and that
     * store-to-load round trip costs more than the loads it saves: about 8 ns per round trip (18.4 against 9.7 ns
     * with the inline fast paths of fiber.h, Boost 9.2 ns, in one process). */
    ldmxcsr [rsp]
    fldcw [rsp + 4]
    add rsp, 8
    .cfi_adjust_cfa_offset -8
    pop r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore r15
    pop r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore r14
    pop r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    pop r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    pop rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    /* Leave by pop+jmp, not ret (Boost's jump_fcontext does the same): a ret here returns to the other side's call
     * site, which the return stack buffer never predicts, and the mispredict cost about half of a round trip. The
     * jmp goes through the indirect branch predictor, which learns the ping-pong between two sites. rcx is
     * caller-saved and no argument of the function, so it is free here. */
    pop rcx
    .cfi_adjust_cfa_offset -8
    .cfi_register rip, rcx
    jmp rcx
    .cfi_endproc
    .size allocator_fiber_switch, . - allocator_fiber_switch
    .size allocator_fiber_switch_context, . - allocator_fiber_switch_context

    .p2align 4
    .globl allocator_fiber_prepare
    .hidden allocator_fiber_prepare
    .type allocator_fiber_prepare, @function
/* void* allocator_fiber_prepare(allocator_fiber_ctx* ctx [rdi], allocator_fiber_entry entry [rsi], intptr_t arg [rdx])
 * Writes the first switch frame below ctx (16-byte aligned): popping it leaves rbx = ctx, r12 = entry, r13 = arg,
 * the ABI's default MXCSR and x87 control word, and returns into the trampoline with rsp = ctx - 16, aligned. */
allocator_fiber_prepare:
    .cfi_startproc
    mov qword ptr [rdi - 8], 0              /* zero slots above the trampoline: a null return address ends naive walks */
    mov qword ptr [rdi - 16], 0
    lea rax, [rip + allocator_fiber_trampoline]
    mov [rdi - 24], rax                     /* return address of the first switch */
    mov qword ptr [rdi - 32], 0             /* rbp */
    mov [rdi - 40], rdi                     /* rbx = ctx */
    mov [rdi - 48], rsi                     /* r12 = entry */
    mov [rdi - 56], rdx                     /* r13 = arg */
    mov qword ptr [rdi - 64], 0             /* r14 */
    mov qword ptr [rdi - 72], 0             /* r15 */
    mov dword ptr [rdi - 80], 0x1F80        /* MXCSR: all exceptions masked, round to nearest */
    mov dword ptr [rdi - 76], 0x037F        /* x87 CW: all exceptions masked, 64-bit precision, round to nearest */
    lea rax, [rdi - 80]
    ret
    .cfi_endproc
    .size allocator_fiber_prepare, . - allocator_fiber_prepare

/* intptr_t allocator_fiber_call_on_parent_stack(ctx [rdi], fn_index [esi], args [rdx], nargs [ecx], status [r8])
 * Moves to the driver's stack 256 bytes below its suspended switch frame (16-byte aligned), calls
 * ctx->sync_host(ctx->sync_state, fn_index, args, nargs, status) (what allocator_fiber_sync_dispatch does, done here
 * to save a call per host call: the other arguments are already in place), and moves back. rbp holds the fiber's
 * stack pointer meanwhile, and the CFA is described through rbp, so unwinders walk from the callee back onto the
 * fiber stack. */
    .p2align 4
    .globl allocator_fiber_call_on_parent_stack
    .hidden allocator_fiber_call_on_parent_stack
    .type allocator_fiber_call_on_parent_stack, @function
allocator_fiber_call_on_parent_stack:
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    mov rbp, rsp
    .cfi_def_cfa_register rbp
    mov rax, [rdi + 8]                      /* ctx->parent_sp */
    sub rax, 256
    and rax, -16
    mov rsp, rax
    mov rax, [rdi + 72]                     /* ctx->sync_host */
    mov rdi, [rdi + 80]                     /* ctx->sync_state */
    call rax
    mov rsp, rbp
    .cfi_def_cfa_register rsp
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size allocator_fiber_call_on_parent_stack, . - allocator_fiber_call_on_parent_stack

/* int32_t allocator_fiber_host_call_unchecked(ctx [rdi], fn_index [esi], args [rdx], nargs [ecx], result [r8],
 *                                             function [r9])
 * The call {args, fn_index, nargs} at [rbp-24] and result at [rbp-8], on the fiber stack; then the same move as
 * allocator_fiber_call_on_parent_stack, calling function(&call). */
    .p2align 4
    .globl allocator_fiber_host_call_unchecked
    .hidden allocator_fiber_host_call_unchecked
    .type allocator_fiber_host_call_unchecked, @function
allocator_fiber_host_call_unchecked:
    .cfi_startproc
    push rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    mov rbp, rsp
    .cfi_def_cfa_register rbp
    mov [rbp - 24], rdx                     /* call.args */
    mov [rbp - 16], esi                     /* call.function */
    mov [rbp - 12], ecx                     /* call.arg_count */
    mov [rbp - 8], r8                       /* result */
    mov rax, [rdi + 8]                      /* ctx->parent_sp */
    sub rax, 256
    and rax, -16
    mov rsp, rax
    lea rdi, [rbp - 24]
    call r9
    mov rsp, rbp
    mov rcx, [rbp - 8]
    test rcx, rcx
    jz 1f
    mov [rcx], rax
1:  xor eax, eax                            /* ALLOCATOR_FIBER_HOST_OK */
    .cfi_def_cfa_register rsp
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size allocator_fiber_host_call_unchecked, . - allocator_fiber_host_call_unchecked

/* Bottom frame of every fiber: entered by the first switch's ret, calls entry(ctx, arg), then exits the fiber.
 * Its CFI describes the driver's frame instead of a caller: the CFA is the driver's stack pointer before it called
 * allocator_fiber_switch, found through ctx->parent_sp (rbx = ctx, callee-saved, so unwinders recover it from the
 * guest's frames). gdb and _Unwind_Backtrace therefore walk from guest frames straight into allocator_fiber_resume
 * and the driver's frames beyond it. The nop keeps the label off the previous function's last byte. */
    .p2align 4
    nop
    .type allocator_fiber_trampoline, @function
allocator_fiber_trampoline:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression, 5 bytes: DW_OP_breg3 (rbx) +8; DW_OP_deref; DW_OP_plus_uconst 64 */
    .cfi_escape 0x0f, 0x05, 0x73, 0x08, 0x06, 0x23, 0x40
    .cfi_offset rip, -8
    .cfi_offset rbp, -16
    .cfi_offset rbx, -24
    .cfi_offset r12, -32
    .cfi_offset r13, -40
    .cfi_offset r14, -48
    .cfi_offset r15, -56
    mov rdi, rbx
    mov rsi, r13
    call r12
    mov rdi, rbx
    mov rsi, rax
    call allocator_fiber_exit
    ud2
    .cfi_endproc
    .size allocator_fiber_trampoline, . - allocator_fiber_trampoline

    /* No executable stack: without this note the linker would mark the library's stack RWX. */
    .section .note.GNU-stack, "", @progbits
