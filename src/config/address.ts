export { addressProblem, formatHostPort, type HostPort, parseHostPort } from '../util/address.js';
