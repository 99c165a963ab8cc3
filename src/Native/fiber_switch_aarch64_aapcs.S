/* Context switch for AArch64 (AAPCS64, Linux). See fiber_switch.h for the contract.
 *
 * Callee-saved state in this ABI: x19-x28, x29 (fp), x30 (lr, where the switch returns to), sp, the low 64 bits of
 * v8-v15 (d8-d15) and the FP control register FPCR (rounding mode, flush-to-zero, default NaN). Everything else is
 * caller-saved, so the compiler already spilled it before the call. There is no red zone in this ABI.
 *
 * A switch frame, from the saved stack pointer upwards (176 bytes, 16-byte aligned):
 *   +0  x19 x20   +16 x21 x22   +32 x23 x24   +48 x25 x26   +64 x27 x28   +80 x29 (fp) x30 (lr)
 *   +96 d8 d9     +112 d10 d11  +128 d12 d13  +144 d14 d15  +160 FPCR, 8 bytes of padding
 * The switch is entered by bl and left by ret through the other side's saved x30.
 */
    .text

    .p2align 4
    .globl allocator_fiber_switch
    .hidden allocator_fiber_switch
    .type allocator_fiber_switch, %function
    /* The same code under its exported name, for fiber.h's inline fast paths; fiber.c calls the hidden name, which
     * the linker binds directly (no PLT). */
    .globl allocator_fiber_switch_context
    .type allocator_fiber_switch_context, %function
/* void allocator_fiber_switch(void** save_sp [x0], void* load_sp [x1]) */
allocator_fiber_switch:
allocator_fiber_switch_context:
    .cfi_startproc
    sub sp, sp, #176
    .cfi_def_cfa_offset 176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x10, sp
    str x10, [x0]
    /* The other side's frame has the same shape, so the CFI above stays true after the stack changes. */
    mov sp, x1
    ldr x10, [sp, #160]
    /* Writing FPCR can be slow (it may synchronize the FP unit); most switches keep the same modes. */
    cmp x9, x10
    b.eq 1f
    msr fpcr, x10
1:
    ldp d14, d15, [sp, #144]
    ldp d12, d13, [sp, #128]
    ldp d10, d11, [sp, #112]
    ldp d8, d9, [sp, #96]
    ldp x29, x30, [sp, #80]
    ldp x27, x28, [sp, #64]
    ldp x25, x26, [sp, #48]
    ldp x23, x24, [sp, #32]
    ldp x21, x22, [sp, #16]
    ldp x19, x20, [sp, #0]
    add sp, sp, #176
    .cfi_def_cfa_offset 0
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret
    .cfi_endproc
    .size allocator_fiber_switch, . - allocator_fiber_switch
    .size allocator_fiber_switch_context, . - allocator_fiber_switch_context

    .p2align 4
    .globl allocator_fiber_prepare
    .hidden allocator_fiber_prepare
    .type allocator_fiber_prepare, %function
/* void* allocator_fiber_prepare(allocator_fiber_ctx* ctx [x0], allocator_fiber_entry entry [x1], intptr_t arg [x2])
 * Writes the first switch frame at ctx - 16 - 176 (ctx is 64-byte aligned): popping it leaves x19 = ctx,
 * x20 = entry, x21 = arg, every other register zero, FPCR 0 (the ABI default: round to nearest, no traps, no
 * flush-to-zero), and returns into the trampoline with sp = ctx - 16. The two zero words at ctx - 16 are a null
 * frame record, which ends frame-pointer walks. */
allocator_fiber_prepare:
    .cfi_startproc
    sub x9, x0, #192
    stp xzr, xzr, [x0, #-16]
    stp x0, x1, [x9, #0]                    /* x19 = ctx, x20 = entry */
    stp x2, xzr, [x9, #16]                  /* x21 = arg, x22 */
    stp xzr, xzr, [x9, #32]
    stp xzr, xzr, [x9, #48]
    stp xzr, xzr, [x9, #64]
    adrp x10, allocator_fiber_trampoline
    add x10, x10, :lo12:allocator_fiber_trampoline
    stp xzr, x10, [x9, #80]                 /* x29 = 0, x30 = the trampoline */
    stp xzr, xzr, [x9, #96]                 /* d8-d15 */
    stp xzr, xzr, [x9, #112]
    stp xzr, xzr, [x9, #128]
    stp xzr, xzr, [x9, #144]
    stp xzr, xzr, [x9, #160]                /* FPCR = 0, padding */
    mov x0, x9
    ret
    .cfi_endproc
    .size allocator_fiber_prepare, . - allocator_fiber_prepare

/* intptr_t allocator_fiber_call_on_parent_stack(ctx [x0], fn_index [w1], args [x2], nargs [w3], status [x4])
 * Moves to the driver's stack 256 bytes below its suspended switch frame (16-byte aligned), calls
 * allocator_fiber_sync_dispatch with the same arguments, and moves back. x29 holds the fiber's frame meanwhile and
 * the CFA is described through it, so unwinders walk from the callee back onto the fiber stack. */
    .p2align 4
    .globl allocator_fiber_call_on_parent_stack
    .hidden allocator_fiber_call_on_parent_stack
    .type allocator_fiber_call_on_parent_stack, %function
allocator_fiber_call_on_parent_stack:
    .cfi_startproc
    stp x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov x29, sp
    .cfi_def_cfa_register x29
    ldr x9, [x0, #8]                        /* ctx->parent_sp */
    sub x9, x9, #256
    and x9, x9, #~15
    mov sp, x9
    bl allocator_fiber_sync_dispatch
    mov sp, x29
    .cfi_def_cfa_register sp
    ldp x29, x30, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size allocator_fiber_call_on_parent_stack, . - allocator_fiber_call_on_parent_stack

/* int32_t allocator_fiber_host_call_unchecked(ctx [x0], fn_index [w1], args [x2], nargs [w3], result [x4],
 *                                             function [x5])
 * The call {args, fn_index, nargs} at [x29+16] and result at [x29+32], on the fiber stack; then the same move as
 * allocator_fiber_call_on_parent_stack, calling function(&call). */
    .p2align 4
    .globl allocator_fiber_host_call_unchecked
    .hidden allocator_fiber_host_call_unchecked
    .type allocator_fiber_host_call_unchecked, %function
allocator_fiber_host_call_unchecked:
    .cfi_startproc
    stp x29, x30, [sp, #-48]!
    .cfi_def_cfa_offset 48
    .cfi_offset x29, -48
    .cfi_offset x30, -40
    mov x29, sp
    .cfi_def_cfa_register x29
    str x2, [x29, #16]                      /* call.args */
    stp w1, w3, [x29, #24]                  /* call.function, call.arg_count */
    str x4, [x29, #32]                      /* result */
    ldr x9, [x0, #8]                        /* ctx->parent_sp */
    sub x9, x9, #256
    and x9, x9, #~15
    mov sp, x9
    add x0, x29, #16
    blr x5
    mov sp, x29
    .cfi_def_cfa_register sp
    ldr x1, [sp, #32]
    cbz x1, 1f
    str x0, [x1]
1:  mov w0, #0                              /* ALLOCATOR_FIBER_HOST_OK */
    ldp x29, x30, [sp], #48
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size allocator_fiber_host_call_unchecked, . - allocator_fiber_host_call_unchecked

/* Bottom frame of every fiber: entered by the first switch's ret, calls entry(ctx, arg), then exits the fiber.
 * Its CFI describes the driver's frame instead of a caller: the CFA is the driver's stack pointer before it called
 * allocator_fiber_switch, ctx->parent_sp + 176, and the driver's registers are in its switch frame there
 * (x19 = ctx is callee-saved, so unwinders recover it from the guest's frames). gdb and _Unwind_Backtrace
 * therefore walk from guest frames straight into allocator_fiber_resume and the driver's frames beyond it. The nop
 * keeps the label off the previous function's last instruction. */
    .p2align 4
    nop
    .type allocator_fiber_trampoline, %function
allocator_fiber_trampoline:
    .cfi_startproc
    /* DW_CFA_def_cfa_expression, 6 bytes: DW_OP_breg19 (x19) +8; DW_OP_deref; DW_OP_plus_uconst 176 */
    .cfi_escape 0x0f, 0x06, 0x83, 0x08, 0x06, 0x23, 0xb0, 0x01
    .cfi_offset x19, -176
    .cfi_offset x20, -168
    .cfi_offset x21, -160
    .cfi_offset x22, -152
    .cfi_offset x23, -144
    .cfi_offset x24, -136
    .cfi_offset x25, -128
    .cfi_offset x26, -120
    .cfi_offset x27, -112
    .cfi_offset x28, -104
    .cfi_offset x29, -96
    .cfi_offset x30, -88
    .cfi_offset d8, -80
    .cfi_offset d9, -72
    .cfi_offset d10, -64
    .cfi_offset d11, -56
    .cfi_offset d12, -48
    .cfi_offset d13, -40
    .cfi_offset d14, -32
    .cfi_offset d15, -24
    mov x0, x19
    mov x1, x21
    blr x20
    mov x1, x0
    mov x0, x19
    bl allocator_fiber_exit
    brk #0
    .cfi_endproc
    .size allocator_fiber_trampoline, . - allocator_fiber_trampoline

    /* No executable stack: without this note the linker would mark the library's stack RWX. */
    .section .note.GNU-stack, "", %progbits
