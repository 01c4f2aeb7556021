//go:build unix

package keeper

import "syscall"

// killTree kills a server's group and every descendant of the server,
// found before the group is killed (so that those which left the group are
// still below it).
func killTree(pid int) {
	below := descendants(pid)
	syscall.Kill(-pid, syscall.SIGKILL)
	for _, d := range below {
		syscall.Kill(d, syscall.SIGKILL)
	}
}

// killBelow kills every descendant of pid and returns how many there were.
func killBelow(pid int) int {
	below := descendants(pid)
	for _, d := range below {
		syscall.Kill(d, syscall.SIGKILL)
	}
	return len(below)
}

// descendants lists the processes below pid, breadth first.
func descendants(pid int) []int {
	kids := childrenFunc()
	var out []int
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range kids(p) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out
}

// children lists pid's children.
func children(pid int) []int { return childrenFunc()(pid) }
