;; wat-greeter: a responder written by hand in WebAssembly text, as a core module.
;;
;; It greets the sender, quotes what they said and, when the agent is granted `clock`, says
;; when; an empty message gets no reply (it is left for a human). build.sh wraps the module
;; into a component with `wasm-tools component embed` (the WIT world) and `component new`,
;; which derive the component's types from wit/, so only the canonical ABI is written here:
;;
;;   describe: () -> i32        pointer to {name, version, capabilities}, each (ptr, len)
;;   respond:  (i32) -> i32     the (request-context, message) tuple is in memory at the
;;                              argument (sender @20, content @36, each ptr then len); the
;;                              result<option<reply>, string> goes at the returned pointer
;;   now-iso8601: (i32) -> ()   the host writes result<string, host-error> at the argument:
;;                              tag u8 @0 (0 = ok), then the string's ptr @4, len @8
(module
  (import "agentx:plugin/clock@0.1.0" "now-iso8601" (func $now-iso8601 (param i32)))

  (memory (export "memory") 1)

  ;; Constants live below 512, return areas at 512..560, the bump heap from 1024.
  (data (i32.const 16) "wat-greeter")
  (data (i32.const 32) "0.1.0")
  (data (i32.const 48) "\00\04") ;; capabilities: log (0), clock (4)
  (data (i32.const 64) "hello, ")
  (data (i32.const 80) "! you said \"")
  (data (i32.const 96) "\" at ")
  (global $heap (mut i32) (i32.const 1024))
  ;; Where $append writes next.
  (global $end (mut i32) (i32.const 0))

  ;; A bump allocator that never frees: an instance serves a single call, and the host only
  ;; asks for fresh blocks (old pointer 0) to pass arguments and strings in.
  (func $cabi_realloc (export "cabi_realloc")
    (param $old i32) (param $old-size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
      (then
        (if (i32.eq (i32.const -1) (memory.grow (i32.add (i32.const 1) (i32.shr_u
              (i32.sub (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
              (i32.const 16)))))
          (then unreachable))))
    (local.get $ptr))

  (func $append (param $src i32) (param $len i32)
    (memory.copy (global.get $end) (local.get $src) (local.get $len))
    (global.set $end (i32.add (global.get $end) (local.get $len))))

  (func (export "describe") (result i32)
    (i32.store (i32.const 256) (i32.const 16)) (i32.store (i32.const 260) (i32.const 11))
    (i32.store (i32.const 264) (i32.const 32)) (i32.store (i32.const 268) (i32.const 5))
    (i32.store (i32.const 272) (i32.const 48)) (i32.store (i32.const 276) (i32.const 2))
    (i32.const 256))

  (func (export "respond") (param $args i32) (result i32)
    (local $sender i32) (local $sender-len i32)
    (local $content i32) (local $content-len i32)
    (local $time i32) (local $time-len i32)
    (local $reply i32)
    (local.set $sender (i32.load offset=20 (local.get $args)))
    (local.set $sender-len (i32.load offset=24 (local.get $args)))
    (local.set $content (i32.load offset=36 (local.get $args)))
    (local.set $content-len (i32.load offset=40 (local.get $args)))

    ;; Nothing to quote: ok(none), no reply.
    (if (i32.eqz (local.get $content-len))
      (then
        (i32.store8 (i32.const 512) (i32.const 0))
        (i32.store8 (i32.const 516) (i32.const 0))
        (return (i32.const 512))))

    ;; The time, if the clock is granted; a denied clock just leaves it out.
    (call $now-iso8601 (i32.const 544))
    (if (i32.eqz (i32.load8_u (i32.const 544)))
      (then
        (local.set $time (i32.load (i32.const 548)))
        (local.set $time-len (i32.load (i32.const 552)))))

    ;; hello, <sender>! you said "<content>"[ at <time>]
    (local.set $reply (call $cabi_realloc (i32.const 0) (i32.const 0) (i32.const 1)
      (i32.add (i32.add (local.get $sender-len) (local.get $content-len))
               (i32.add (local.get $time-len) (i32.const 24)))))
    (global.set $end (local.get $reply))
    (call $append (i32.const 64) (i32.const 7))
    (call $append (local.get $sender) (local.get $sender-len))
    (call $append (i32.const 80) (i32.const 12))
    (call $append (local.get $content) (local.get $content-len))
    (call $append (i32.const 96) (i32.const 1))
    (if (local.get $time-len)
      (then
        (call $append (i32.const 97) (i32.const 4))
        (call $append (local.get $time) (local.get $time-len))))

    ;; ok(some(reply)): tag @0, option tag @4, content ptr @8, len @12.
    (i32.store8 (i32.const 512) (i32.const 0))
    (i32.store8 (i32.const 516) (i32.const 1))
    (i32.store (i32.const 520) (local.get $reply))
    (i32.store (i32.const 524) (i32.sub (global.get $end) (local.get $reply)))
    (i32.const 512))
)
