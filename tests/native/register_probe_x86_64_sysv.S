/* Probes that the fiber switch preserves every callee-saved register, MXCSR and the x87 control word, on both
 * sides. C cannot do this: the compiler decides which registers hold what. Each probe fills all of them with its
 * own marker values, lets the other side run with different values, and reports a bit per register that changed.
 *
 * Bits: 1 rbx, 2 rbp, 4 r12, 8 r13, 16 r14, 32 r15, 64 MXCSR, 128 x87 CW, 256 (fiber only) the fiber did not start
 * with the ABI's default MXCSR 0x1F80 and x87 CW 0x037F. */
    .intel_syntax noprefix
    .text

/* Fills rbx, rbp, r12-r15 with base + 1..6. */
.macro LOAD_MARKERS base
    movabs rbx, \base + 1
    movabs rbp, \base + 2
    movabs r12, \base + 3
    movabs r13, \base + 4
    movabs r14, \base + 5
    movabs r15, \base + 6
.endm

/* ORs into \mask a bit for each of rbx, rbp, r12-r15 that no longer holds base + 1..6. Clobbers r11. */
.macro CHECK_MARKERS base, mask
    movabs r11, \base + 1
    cmp rbx, r11
    je 1f
    or \mask, 1
1:  movabs r11, \base + 2
    cmp rbp, r11
    je 2f
    or \mask, 2
2:  movabs r11, \base + 3
    cmp r12, r11
    je 3f
    or \mask, 4
3:  movabs r11, \base + 4
    cmp r13, r11
    je 4f
    or \mask, 8
4:  movabs r11, \base + 5
    cmp r14, r11
    je 5f
    or \mask, 16
5:  movabs r11, \base + 6
    cmp r15, r11
    je 6f
    or \mask, 32
6:
.endm

/* ORs 64 into \mask if MXCSR's control bits differ from \mxcsr, 128 if the x87 CW differs from \cw.
 * Uses the 8 bytes at [rsp + 16] as scratch. */
.macro CHECK_FP mxcsr, cw, mask
    stmxcsr [rsp + 16]
    mov r11d, [rsp + 16]
    and r11d, 0xFFC0            /* ignore the sticky exception flags */
    cmp r11d, \mxcsr
    je 7f
    or \mask, 64
7:  fnstcw [rsp + 20]
    movzx r11d, word ptr [rsp + 20]
    cmp r11d, \cw
    je 8f
    or \mask, 128
8:
.endm

.macro PROLOGUE
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    sub rsp, 24                 /* [rsp] spare, [rsp+8] caller's MXCSR/CW, [rsp+16] scratch; keeps 16-byte alignment */
    stmxcsr [rsp + 8]
    fnstcw [rsp + 12]
.endm

.macro EPILOGUE
    ldmxcsr [rsp + 8]
    fldcw [rsp + 12]
    add rsp, 24
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret
.endm

    .p2align 4
    .globl probe_fiber_entry
    .type probe_fiber_entry, @function
/* Fiber entry: intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx [rdi], intptr_t arg). Rounds toward zero in
 * both FP units, fills the registers with 0x1000...+n, makes one host call (function 0) and returns the mask. */
probe_fiber_entry:
    PROLOGUE
    xor eax, eax
    CHECK_FP 0x1F80, 0x037F, eax
    test eax, eax
    jz 9f
    mov eax, 256
9:  mov [rsp], rax
    mov dword ptr [rsp + 16], 0x7F80    /* MXCSR: round toward zero */
    ldmxcsr [rsp + 16]
    mov word ptr [rsp + 20], 0x0F7F     /* x87: round toward zero */
    fldcw [rsp + 20]
    LOAD_MARKERS 0x1000000000000000
    xor esi, esi                        /* fn_index 0 */
    xor edx, edx                        /* args NULL */
    xor ecx, ecx                        /* nargs 0 */
    xor r8d, r8d                        /* result NULL */
    call allocator_fiber_host_call@PLT
    mov rax, [rsp]
    CHECK_MARKERS 0x1000000000000000, eax
    CHECK_FP 0x7F80, 0x0F7F, eax
    EPILOGUE
    .size probe_fiber_entry, . - probe_fiber_entry

    .p2align 4
    .globl probe_resume
    .type probe_resume, @function
/* Driver side: int32_t probe_resume(allocator_fiber_ctx* ctx [rdi], intptr_t value [rsi], int32_t* mask [rdx]).
 * Rounds up in both FP units, fills the registers with 0x2000...+n, resumes the fiber, stores the mask in *mask
 * and returns what allocator_fiber_resume returned. */
probe_resume:
    PROLOGUE
    mov [rsp], rdx
    mov dword ptr [rsp + 16], 0x5F80    /* MXCSR: round up */
    ldmxcsr [rsp + 16]
    mov word ptr [rsp + 20], 0x0B7F     /* x87: round up */
    fldcw [rsp + 20]
    LOAD_MARKERS 0x2000000000000000
    mov rdx, rsi                        /* value */
    xor esi, esi                        /* ALLOCATOR_FIBER_RESUME_RESULT */
    call allocator_fiber_resume@PLT
    mov r10d, eax
    xor ecx, ecx
    CHECK_MARKERS 0x2000000000000000, ecx
    CHECK_FP 0x5F80, 0x0B7F, ecx
    mov rdx, [rsp]
    mov [rdx], ecx
    mov eax, r10d
    EPILOGUE
    .size probe_resume, . - probe_resume

    .section .note.GNU-stack, "", @progbits
