// Server objects carry their superuser password (and a URL with it).

import util from 'node:util';

// Assertion diffs and console.log of a server object must not show the password.
export function redactable(server) {
  Object.defineProperty(server, util.inspect.custom, {
    enumerable: false,
    value() {
      const { password, adminUrl, ...rest } = this;
      const u = new URL(adminUrl);
      if (u.password) u.password = '***';
      return { ...rest, password: '***', adminUrl: u.toString() };
    },
  });
  Object.defineProperty(server, 'toJSON', { enumerable: false, value: server[util.inspect.custom] });
  return server;
}
