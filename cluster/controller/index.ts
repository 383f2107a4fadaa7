export { Controller, chooseBindAddress, interfaceAddress, primaryAddress, type ControllerOptions } from './controller';
export { controllerMain, parseControllerArgs } from './cli';
export { Journal } from './journal';
export { Scheduler } from './scheduler';
