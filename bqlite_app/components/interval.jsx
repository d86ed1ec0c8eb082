// A tiny timer component for Reflex.
import { useEffect, useRef } from "react";

// Calls `onTick` now and then every `ms` milliseconds while the page is visible: client-driven refreshes that stop
// by themselves when the page goes away (the status bar uses it).
export function Interval({ ms = 3000, onTick }) {
  const tick = useRef(onTick);
  tick.current = onTick;
  useEffect(() => {
    tick.current?.();
    const timer = setInterval(() => {
      if (!document.hidden) tick.current?.();
    }, ms);
    return () => clearInterval(timer);
  }, [ms]);
  return null;
}
