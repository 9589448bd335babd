export * from './docker-reference.js';
