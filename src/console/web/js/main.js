// Starts the console once every script is loaded (they are `defer`red, in order).
(function () {
  'use strict';
  window.SL.start();
})();
