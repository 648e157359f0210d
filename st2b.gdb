[Thread debugging using libthread_db enabled]
Using host libthread_db library "/lib/x86_64-linux-gnu/libthread_db.so.1".
0x00007efc41979bd3 in __GI___wait4 (pid=-1, stat_loc=0x7ffe1a9566a0, options=0, usage=0x0) at ../sysdeps/unix/sysv/linux/wait4.c:30
30	../sysdeps/unix/sysv/linux/wait4.c: No such file or directory.

Thread 1 (Thread 0x7efc418a3740 (LWP 9670) "bash"):
#0  0x00007efc41979bd3 in __GI___wait4 (pid=-1, stat_loc=0x7ffe1a9566a0, options=0, usage=0x0) at ../sysdeps/unix/sysv/linux/wait4.c:30
#1  0x000055ce842cf3f2 in ?? ()
#2  0x000055ce842d0aba in wait_for ()
#3  0x000055ce842b928b in execute_command_internal ()
#4  0x000055ce842bcac5 in execute_command ()
#5  0x000055ce842bebbb in ?? ()
#6  0x000055ce842b9573 in execute_command_internal ()
#7  0x000055ce842bd24d in ?? ()
#8  0x000055ce842b9153 in execute_command_internal ()
#9  0x000055ce842b9573 in execute_command_internal ()
#10 0x000055ce842be84b in ?? ()
#11 0x000055ce842b9573 in execute_command_internal ()
#12 0x000055ce842bcac5 in execute_command ()
#13 0x000055ce842bea47 in ?? ()
#14 0x000055ce842b9573 in execute_command_internal ()
#15 0x000055ce842bcac5 in execute_command ()
#16 0x000055ce842bea47 in ?? ()
#17 0x000055ce842b9573 in execute_command_internal ()
#18 0x000055ce842bcac5 in execute_command ()
#19 0x000055ce842bea47 in ?? ()
#20 0x000055ce842b9573 in execute_command_internal ()
#21 0x000055ce843135a9 in parse_and_execute ()
#22 0x000055ce84313726 in evalstring ()
#23 0x000055ce842b63d2 in ?? ()
#24 0x000055ce842bc526 in execute_command_internal ()
#25 0x000055ce842bcac5 in execute_command ()
#26 0x000055ce842bebbb in ?? ()
#27 0x000055ce842b9573 in execute_command_internal ()
#28 0x000055ce842bd24d in ?? ()
#29 0x000055ce842b9153 in execute_command_internal ()
[Inferior 1 (process 9670) detached]
