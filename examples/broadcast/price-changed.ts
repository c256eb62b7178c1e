import { IsNotEmpty, IsString } from 'class-validator';

export class PriceChanged {
  @IsString()
  @IsNotEmpty()
  sku!: string;
}
