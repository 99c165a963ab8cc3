/* Win64 twin of ../register_probe_x86_64_sysv.S: each side fills rbx, rbp, rdi, rsi, r12-r15 and xmm6-15 with its
 * own markers and its own FP modes around a switch and reports a bit per register group that changed (1 rbx, 2 rbp,
 * 4 rdi, 8 rsi, 16 r12, 32 r13, 64 r14, 128 r15, 256 any of xmm6-15, 512 MXCSR, 1024 x87 control word, 2048 (fiber
 * only) the fiber did not start with Windows' default MXCSR 0x1F80 and x87 CW 0x027F).
 *
 * Frame (rsp 16-byte aligned after the prologue): [0,32) home area of calls made from here, [32,40) their fifth
 * argument, [48,208) the caller's xmm6-15, [208,240) spills, [240,248) scratch for MXCSR and the x87 CW,
 * [248,256) the caller's MXCSR and x87 CW. */
    .intel_syntax noprefix
    .text
.macro LOAD_MARKERS base
    movabs rbx, \base + 1
    movabs rbp, \base + 2
    movabs rdi, \base + 3
    movabs rsi, \base + 4
    movabs r12, \base + 5
    movabs r13, \base + 6
    movabs r14, \base + 7
    movabs r15, \base + 8
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movabs rax, \base + 0x100 + \n
    movq xmm\n, rax
    .endr
.endm
.macro CHECK_MARKERS base, mask
    movabs r11, \base + 1
    cmp rbx, r11
    je 1f
    or \mask, 1
1:  movabs r11, \base + 2
    cmp rbp, r11
    je 1f
    or \mask, 2
1:  movabs r11, \base + 3
    cmp rdi, r11
    je 1f
    or \mask, 4
1:  movabs r11, \base + 4
    cmp rsi, r11
    je 1f
    or \mask, 8
1:  movabs r11, \base + 5
    cmp r12, r11
    je 1f
    or \mask, 16
1:  movabs r11, \base + 6
    cmp r13, r11
    je 1f
    or \mask, 32
1:  movabs r11, \base + 7
    cmp r14, r11
    je 1f
    or \mask, 64
1:  movabs r11, \base + 8
    cmp r15, r11
    je 1f
    or \mask, 128
1:
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movq r10, xmm\n
    movabs r11, \base + 0x100 + \n
    cmp r10, r11
    je 1f
    or \mask, 256
1:
    .endr
.endm
/* ORs 512 into \mask if MXCSR's control bits differ from \mxcsr, 1024 if the x87 CW differs from \cw. */
.macro CHECK_FP mxcsr, cw, mask
    stmxcsr [rsp + 240]
    mov r11d, [rsp + 240]
    and r11d, 0xFFC0            /* ignore the sticky exception flags */
    cmp r11d, \mxcsr
    je 1f
    or \mask, 512
1:  fnstcw [rsp + 244]
    movzx r11d, word ptr [rsp + 244]
    cmp r11d, \cw
    je 1f
    or \mask, 1024
1:
.endm
.macro SET_FP mxcsr, cw
    mov dword ptr [rsp + 240], \mxcsr
    ldmxcsr [rsp + 240]
    mov word ptr [rsp + 244], \cw
    fldcw [rsp + 244]
.endm
.macro PROLOGUE
    push rbp
    push rbx
    push rdi
    push rsi
    push r12
    push r13
    push r14
    push r15
    sub rsp, 264                /* entry rsp is 8 mod 16; 8 pushes and 264 bring it back to 0 mod 16 */
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movaps [rsp + 48 + (\n - 6) * 16], xmm\n
    .endr
    stmxcsr [rsp + 248]
    fnstcw [rsp + 252]
.endm
.macro EPILOGUE
    ldmxcsr [rsp + 248]
    fldcw [rsp + 252]
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movaps xmm\n, [rsp + 48 + (\n - 6) * 16]
    .endr
    add rsp, 264
    pop r15
    pop r14
    pop r13
    pop r12
    pop rsi
    pop rdi
    pop rbx
    pop rbp
    ret
.endm
    .globl probe_fiber_entry
/* Fiber entry: intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx [rcx], intptr_t arg); rounds toward zero in both
 * FP units, makes one host call (function 0) and returns the mask. */
probe_fiber_entry:
    PROLOGUE
    mov [rsp + 208], rcx
    xor eax, eax
    CHECK_FP 0x1F80, 0x027F, eax
    test eax, eax
    jz 2f
    mov eax, 2048
2:  mov [rsp + 216], rax
    SET_FP 0x7F80, 0x0E7F               /* round toward zero */
    LOAD_MARKERS 0x1000000000000000
    mov rcx, [rsp + 208]
    xor edx, edx                        /* fn_index 0 */
    xor r8d, r8d                        /* args NULL */
    xor r9d, r9d                        /* nargs 0 */
    mov qword ptr [rsp + 32], 0         /* result NULL: the fifth argument, above the home area */
    call allocator_fiber_host_call
    mov rax, [rsp + 216]
    CHECK_MARKERS 0x1000000000000000, eax
    CHECK_FP 0x7F80, 0x0E7F, eax
    EPILOGUE
    .globl probe_resume
/* Driver side: int32_t probe_resume(allocator_fiber_ctx* ctx [rcx], intptr_t value [rdx], int32_t* mask [r8]); rounds
 * up in both FP units, resumes the fiber, stores the mask in *mask and returns what allocator_fiber_resume returned. */
probe_resume:
    PROLOGUE
    mov [rsp + 208], r8
    mov [rsp + 216], rcx
    mov [rsp + 224], rdx
    SET_FP 0x5F80, 0x0A7F               /* round up */
    LOAD_MARKERS 0x2000000000000000
    mov rcx, [rsp + 216]
    mov r8, [rsp + 224]
    xor edx, edx                        /* ALLOCATOR_FIBER_RESUME_RESULT */
    call allocator_fiber_resume
    mov [rsp + 232], rax
    xor ecx, ecx
    CHECK_MARKERS 0x2000000000000000, ecx
    CHECK_FP 0x5F80, 0x0A7F, ecx
    mov rdx, [rsp + 208]
    mov [rdx], ecx
    mov rax, [rsp + 232]
    EPILOGUE

    /* Exported from a DLL whose C part exports with __declspec(dllexport). */
    .section .drectve
    .ascii " -export:probe_fiber_entry -export:probe_resume"
