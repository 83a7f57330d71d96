// Bounds what one chat-template render may cost: evaluation steps, wall time, and the size of any
// string or list it builds. A template comes with the request (chat_template), so without bounds one
// loop could hold the event loop for seconds and take gigabytes. @huggingface/jinja has no such limits;
// every node of a template goes through Interpreter.prototype.evaluate, so that is where they are counted,
// and the global range() (declared through Environment.prototype.set) is swapped for a bounded one.
import { Environment, Interpreter } from '@huggingface/jinja';

export interface TemplateLimits {
  /** Template nodes evaluated, plus the items of every list made (a loop costs its length up front). */
  maxSteps: number;
  /** Wall time of one render, in milliseconds. */
  maxMillis: number;
  /** Characters in any string the template makes, the output included. */
  maxChars: number;
  /** Items in any list the template makes (range() included). */
  maxItems: number;
}

export const DEFAULT_TEMPLATE_LIMITS: TemplateLimits = {
  maxSteps: 1_000_000,
  maxMillis: 1_000,
  maxChars: 16 * 2 ** 20,
  maxItems: 100_000,
};

/** A render went over one of its limits; the message says which and by what. */
export class TemplateLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TemplateLimitError';
  }
}

interface Budget {
  limits: TemplateLimits;
  steps: number;
  /** The step count at which the clock is read next (reading it every step would cost more than the step). */
  nextClock: number;
  deadline: number;
}

const CLOCK_EVERY_STEPS = 256;

// Renders are synchronous, so at most one budget is active at a time.
let active: Budget | null = null;

const evaluate = Interpreter.prototype.evaluate;
Interpreter.prototype.evaluate = function boundedEvaluate(this: Interpreter, ...args: Parameters<typeof evaluate>) {
  const budget = active;
  if (budget) charge(budget, 1);
  const result = evaluate.apply(this, args);
  if (budget) {
    const value: unknown = result.value;
    if (typeof value === 'string' && value.length > budget.limits.maxChars) {
      throw new TemplateLimitError(`the chat template made a string longer than ${budget.limits.maxChars} characters`);
    }
    if (Array.isArray(value)) {
      if (value.length > budget.limits.maxItems) {
        throw new TemplateLimitError(`the chat template made a list longer than ${budget.limits.maxItems} items`);
      }
      // a for loop over it does work per item that does not pass through evaluate (empty bodies too)
      charge(budget, value.length);
    }
  }
  return result;
};

const set = Environment.prototype.set;
Environment.prototype.set = function boundedSet(this: Environment, name: string, value: unknown) {
  return set.call(this, name, name === 'range' && active ? boundedRange(active.limits) : value);
};

function charge(budget: Budget, steps: number): void {
  budget.steps += steps;
  if (budget.steps > budget.limits.maxSteps) {
    throw new TemplateLimitError(`the chat template ran more than ${budget.limits.maxSteps} steps`);
  }
  if (budget.steps >= budget.nextClock) {
    budget.nextClock = budget.steps + CLOCK_EVERY_STEPS;
    if (Date.now() > budget.deadline) {
      throw new TemplateLimitError(`the chat template ran longer than ${budget.limits.maxMillis} ms`);
    }
  }
}

/** Runs `render` (one synchronous template render) under `limits`. */
export function withTemplateBudget<T>(limits: TemplateLimits, render: () => T): T {
  const outer = active;
  active = { limits, steps: 0, nextClock: CLOCK_EVERY_STEPS, deadline: Date.now() + limits.maxMillis };
  try {
    return render();
  } finally {
    active = outer;
  }
}

/** jinja's range() (same arguments and items), refusing up front a range longer than the budget allows instead of building it. */
function boundedRange(limits: TemplateLimits) {
  return (start: number, stop?: number, step = 1): number[] => {
    const [from, to] = stop === undefined ? [0, start] : [start, stop];
    if (step === 0) throw new Error('range() step must not be zero');
    const length = Math.max(0, Math.ceil((to - from) / step));
    if (!Number.isFinite(length) || length > limits.maxItems) {
      throw new TemplateLimitError(`range() of ${length} items is more than the ${limits.maxItems} a chat template may make`);
    }
    return Array.from({ length }, (_, i) => from + i * step);
  };
}
