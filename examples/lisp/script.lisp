; The script the test runs; its output is compared with expected_output.txt.

; Arithmetic and comparison.
(+ 1 2 3)
(- 10 4 3)
(* 6 7)
(< 1 2)
(> 1 2)
(quote (a b c))
'(1 (2 3) 4)

; Recursion: every call makes a scope (an Env) and its bindings, all GC
; objects, all garbage once the call returns.
(define fib (lambda (n) (if (< n 2) n (+ (fib (- n 1)) (fib (- n 2))))))
(fib 20)

; Lists and higher-order functions.
(define range (lambda (a b) (if (< a b) (cons a (range (+ a 1) b)) '())))
(define map (lambda (f xs) (if (null? xs) '() (cons (f (car xs)) (map f (cdr xs))))))
(define filter
  (lambda (keep? xs)
    (if (null? xs) '()
        (if (keep? (car xs))
            (cons (car xs) (filter keep? (cdr xs)))
            (filter keep? (cdr xs))))))
(define fold (lambda (f acc xs) (if (null? xs) acc (fold f (f acc (car xs)) (cdr xs)))))
(range 0 10)
(map (lambda (x) (* x x)) (range 1 8))
(filter (lambda (x) (= 0 (mod x 3))) (range 0 20))
(fold + 0 (range 0 101))

; Closures: each adder keeps the scope that holds its n alive.
(define make-adder (lambda (n) (lambda (x) (+ x n))))
(define add10 (make-adder 10))
(define add100 (make-adder 100))
(map add10 '(1 2 3))
(map add100 '(1 2 3))

; let, and a collection in the middle of an expression: xs, the scopes of
; the calls in progress and the pending arguments on the value stack all
; survive it.
(let ((xs (range 0 50)) (ys (map add10 (range 0 50))))
  (+ (fold + 0 xs) (begin (collect) (fold + 0 ys))))

; Churn: build and drop a 200-element list, its squares and its evens 300
; times (over a million GC objects), so collections are triggered by
; allocation while the loop's own state stays live. The loop is a tail
; call: it runs in constant C++ stack.
(define churn
  (lambda (i total)
    (if (= i 0)
        total
        (churn (- i 1)
               (+ total
                  (length (filter (lambda (x) (= 0 (mod x 2)))
                                  (map (lambda (x) (* x x)) (range 0 200)))))))))
(churn 300 0)
(fib 15)

; Errors are reported and the next form goes on.
(car 5)
(undefined-function 1)
((lambda (x y) x) 1)
(length '(1 2 3 4))
