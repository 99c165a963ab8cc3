/* Win64 twin of ../register_probe_x86_64_sysv.S: each side fills rbx, rbp, rdi, rsi, r12-r15 and xmm6-15 with its
 * own markers around a switch and reports a bit per register group that changed (1 rbx, 2 rbp, 4 rdi, 8 rsi,
 * 16 r12, 32 r13, 64 r14, 128 r15, 256 any of xmm6-15). */
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
.macro PROLOGUE
    push rbp
    push rbx
    push rdi
    push rsi
    push r12
    push r13
    push r14
    push r15
    sub rsp, 200                /* [0,160) caller's xmm6-15, [160,192) spills; rsp stays 16-byte aligned */
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movups [rsp + (\n - 6) * 16], xmm\n
    .endr
.endm
.macro EPILOGUE
    .irp n, 6,7,8,9,10,11,12,13,14,15
    movups xmm\n, [rsp + (\n - 6) * 16]
    .endr
    add rsp, 200
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
/* Fiber entry: intptr_t probe_fiber_entry(allocator_fiber_ctx* ctx [rcx], intptr_t arg); returns the mask. */
probe_fiber_entry:
    PROLOGUE
    mov [rsp + 160], rcx
    LOAD_MARKERS 0x1000000000000000
    mov rcx, [rsp + 160]
    xor edx, edx
    xor r8d, r8d
    xor r9d, r9d
    mov qword ptr [rsp + 32], 0      /* 5th arg result = NULL: home area at [rsp..rsp+32) */
    call allocator_fiber_host_call
    xor eax, eax
    CHECK_MARKERS 0x1000000000000000, eax
    EPILOGUE
    .globl probe_resume
/* Driver side: int32_t probe_resume(allocator_fiber_ctx* ctx [rcx], intptr_t value [rdx], int32_t* mask [r8]). */
probe_resume:
    PROLOGUE
    mov [rsp + 160], r8
    mov [rsp + 168], rcx
    mov [rsp + 176], rdx
    LOAD_MARKERS 0x2000000000000000
    mov rcx, [rsp + 168]
    mov r8, [rsp + 176]
    xor edx, edx
    call allocator_fiber_resume
    mov r10d, eax
    mov [rsp + 184], r10
    xor ecx, ecx
    CHECK_MARKERS 0x2000000000000000, ecx
    mov rdx, [rsp + 160]
    mov [rdx], ecx
    mov rax, [rsp + 184]
    EPILOGUE
