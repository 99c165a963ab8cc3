/* AArch64 twin of register_probe_x86_64_sysv.S: each side fills x19-x28, x29 and d8-d15 with its own markers and
 * sets its own FPCR rounding mode around a switch, and reports a bit per register that changed: 1 << (n - 19) for
 * x19-x28, 1024 x29, 2048 any of d8-d15, 4096 FPCR, 8192 (fiber only) the fiber did not start with FPCR 0. */
    .text

/* Fills x19-x28 with base + 1..10, x29 with base + 11 and d8-d15 with base + 0x108..0x10F. Clobbers x9. */
.macro LOAD_MARKERS base
    .irp n, 19,20,21,22,23,24,25,26,27,28
    movz x\n, #(\base >> 48), lsl #48
    movk x\n, #(\n - 18)
    .endr
    movz x29, #(\base >> 48), lsl #48
    movk x29, #11
    .irp n, 8,9,10,11,12,13,14,15
    movz x9, #(\base >> 48), lsl #48
    movk x9, #(0x100 + \n)
    fmov d\n, x9
    .endr
.endm

/* ORs into w\mask a bit for each register that no longer holds its marker. Clobbers x9, x10. */
.macro CHECK_MARKERS base, mask
    .irp n, 19,20,21,22,23,24,25,26,27,28
    movz x9, #(\base >> 48), lsl #48
    movk x9, #(\n - 18)
    cmp x\n, x9
    b.eq 1f
    orr w\mask, w\mask, #(1 << (\n - 19))
1:
    .endr
    movz x9, #(\base >> 48), lsl #48
    movk x9, #11
    cmp x29, x9
    b.eq 1f
    orr w\mask, w\mask, #1024
1:
    .irp n, 8,9,10,11,12,13,14,15
    movz x9, #(\base >> 48), lsl #48
    movk x9, #(0x100 + \n)
    fmov x10, d\n
    cmp x10, x9
    b.eq 1f
    orr w\mask, w\mask, #2048
1:
    .endr
.endm

/* ORs 4096 into w\mask unless FPCR's rounding mode (bits 23:22) is \rmode. Clobbers x9. */
.macro CHECK_FPCR rmode, mask
    mrs x9, fpcr
    ubfx x9, x9, #22, #2
    cmp x9, #\rmode
    b.eq 1f
    orr w\mask, w\mask, #4096
1:
.endm


/* Frame: [0,160) the caller's x19-x30 and d8-d15, [160,168) its FPCR, [168,192) spills. */
.macro PROLOGUE
    sub sp, sp, #192
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
    mrs x9, fpcr
    str x9, [sp, #160]
.endm

.macro EPILOGUE
    ldr x9, [sp, #160]
    msr fpcr, x9
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
    add sp, sp, #192
    ret
.endm

    .p2align 4
    .globl probe_fiber_entry
    .type probe_fiber_entry, %function
/* Fiber entry: intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx [x0], intptr_t arg). Rounds toward zero, fills the
 * registers with 0x1000...+n, makes one host call (function 0) and returns the mask. */
probe_fiber_entry:
    PROLOGUE
    str x0, [sp, #168]
    mov w11, #0
    CHECK_FPCR 0, 11
    mrs x9, fpcr
    and x9, x9, #~(3 << 22)
    cbz x9, 2f                              /* the rest of FPCR (FZ, DN, AHP, traps) must be 0 as well */
    orr w11, w11, #4096
2:  cbz w11, 3f
    mov w11, #8192
3:  str x11, [sp, #176]
    mrs x9, fpcr
    orr x9, x9, #(3 << 22)                  /* round toward zero */
    msr fpcr, x9
    LOAD_MARKERS 0x1000000000000000
    ldr x0, [sp, #168]
    mov w1, #0                              /* fn_index 0 */
    mov x2, #0                              /* args NULL */
    mov w3, #0                              /* nargs 0 */
    mov x4, #0                              /* result NULL */
    bl allocator_fiber_host_call
    ldr x11, [sp, #176]
    CHECK_MARKERS 0x1000000000000000, 11
    CHECK_FPCR 3, 11
    mov x0, x11
    EPILOGUE
    .size probe_fiber_entry, . - probe_fiber_entry

    .p2align 4
    .globl probe_resume
    .type probe_resume, %function
/* Driver side: int32_t probe_resume(allocator_fiber_ctx* ctx [x0], intptr_t value [x1], int32_t* mask [x2]).
 * Rounds up, fills the registers with 0x2000...+n, resumes the fiber, stores the mask in *mask and returns what
 * allocator_fiber_resume returned. */
probe_resume:
    PROLOGUE
    str x2, [sp, #168]
    stp x0, x1, [sp, #176]
    mrs x9, fpcr
    and x9, x9, #~(3 << 22)
    orr x9, x9, #(1 << 22)                  /* round toward plus infinity */
    msr fpcr, x9
    LOAD_MARKERS 0x2000000000000000
    ldp x0, x2, [sp, #176]                  /* ctx, value */
    mov w1, #0                              /* ALLOCATOR_FIBER_RESUME_RESULT */
    bl allocator_fiber_resume
    mov w12, w0
    mov w11, #0
    CHECK_MARKERS 0x2000000000000000, 11
    CHECK_FPCR 1, 11
    ldr x9, [sp, #168]
    str w11, [x9]
    mov w0, w12
    EPILOGUE
    .size probe_resume, . - probe_resume

    .section .note.GNU-stack, "", %progbits
