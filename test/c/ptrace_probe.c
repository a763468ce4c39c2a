/*
 * ptrace_probe -- can a process of the same uid attach to PID with ptrace,
 * as a debugger or a memory dumper would?
 *
 * The probe first drops CAP_SYS_PTRACE from its effective set (it keeps it
 * permitted, so the kernel's capability-subset test against a root target
 * still passes): what is left is what any other process of the same user
 * may do. Linux then refuses the attach to a process that made itself
 * undumpable (prctl PR_SET_DUMPABLE 0) and allows it to any other. A
 * PTRACE_SEIZE neither stops nor signals the target; the probe's exit
 * detaches it.
 *
 * Usage: ptrace_probe PID
 * Prints "attached" (exit 0), "EPERM" (exit 1) or another error (exit 1);
 * exits 2 on a usage or local error.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: ptrace_probe PID\n");
    return 2;
  }
  char *end;
  long pid = strtol(argv[1], &end, 10);
  if (*end != '\0' || pid <= 0) {
    fprintf(stderr, "ptrace_probe: not a pid: %s\n", argv[1]);
    return 2;
  }
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
  if (syscall(SYS_capget, &hdr, data) != 0) {
    perror("ptrace_probe: capget");
    return 2;
  }
  data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
  if (syscall(SYS_capset, &hdr, data) != 0) {
    perror("ptrace_probe: capset");
    return 2;
  }
  if (ptrace(PTRACE_SEIZE, (pid_t)pid, NULL, NULL) == 0) {
    printf("attached\n");
    return 0;
  }
  printf("%s\n", errno == EPERM ? "EPERM" : strerror(errno));
  return 1;
}
