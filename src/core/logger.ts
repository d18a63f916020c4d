/**
 * Logger factory: JSON lines on stderr (journald keeps them). Never pass names or free text from
 * families: log ids, codes and counts.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(component: string): Logger;
}

export interface LoggerOptions {
  level: LogLevel;
  component?: string;
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const min = ORDER[opts.level];
  const make = (component: string | undefined): Logger => {
    const log = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: Record<string, unknown>) => {
      if (ORDER[level] < min) return;
      const entry: Record<string, unknown> = { t: new Date().toISOString(), level, msg };
      if (component) entry.component = component;
      if (fields) Object.assign(entry, fields);
      write(JSON.stringify(entry));
    };
    return {
      debug: (m, f) => log('debug', m, f),
      info: (m, f) => log('info', m, f),
      warn: (m, f) => log('warn', m, f),
      error: (m, f) => log('error', m, f),
      child: (c) => make(component ? `${component}.${c}` : c),
    };
  };
  return make(opts.component);
}
